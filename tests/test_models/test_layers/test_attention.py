"""The four HarmoVision attention modules used alone on B x C x H x W maps."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope

from mmhybrid.models.layers import (CGSA, DCA, DSA, LWMHSA,
                                    eca_kernel_size)


def _n(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('size', [(14, 14), (7, 7), (5, 9), (13, 20), (1, 1)])
def test_output_shapes(size):
    x = torch.randn(2, 32, *size)
    for m in (LWMHSA(32), LWMHSA(32, window_size=0), CGSA(32)):
        assert m.eval()(x).shape == x.shape
    assert DSA(32).eval()(x).shape == x.shape
    assert DSA(32, group_channels=1).eval()(x).shape == x.shape
    assert DCA(32)(x).shape == (2, 32, 1, 1)


def test_defaults_and_param_counts():
    c = 64
    m = LWMHSA(c)
    assert (m.window_size, m.head_dim, m.num_heads) == (7, 8, 8)
    # BN + qk (C -> 2C) + v (C -> C), no biases
    assert _n(m) == 2 * c + 2 * c * c + c * c
    mid = max(8, c // 32)
    # conv1 (bias) + BN + conv_h, conv_w (bias)
    assert _n(CGSA(c)) == c * mid + mid + 2 * mid + 2 * (mid * c + c)
    # grouped Conv1d k7 (8 channels per group by default, no bias) + BN1d
    assert _n(DSA(c)) == c * 8 * 7 + 2 * c
    assert _n(DSA(c, group_channels=1)) == c * 7 + 2 * c
    assert _n(DCA(c)) == 5


@pytest.mark.parametrize('channels,k', [(16, 5), (24, 5), (32, 5), (40, 5),
                                        (56, 5), (96, 5), (127, 5), (128, 7)])
def test_dca_kernel_size(channels, k):
    assert eca_kernel_size(channels) == k
    assert DCA(channels).conv.kernel_size == (k, )


def _global_attention(m, x):
    """Plain multi-head attention over the whole map with m's weights."""
    B, C, H, W = x.shape
    y = m.norm(x)
    q, k = m.qk(y).chunk(2, dim=1)
    v = m.v(y)
    # B, C, N -> B, heads, N, d
    q, k, v = (t.reshape(B, m.num_heads, m.head_dim, H * W).transpose(2, 3)
               for t in (q, k, v))
    out = F.softmax(q @ k.transpose(-2, -1) * m.head_dim**-0.5, dim=-1) @ v
    return out.transpose(2, 3).reshape(B, C, H, W)


@pytest.mark.parametrize('size', [(7, 7), (5, 6), (3, 7), (1, 1)])
def test_lw_mhsa_is_global_when_window_covers_map(size):
    m = LWMHSA(16).eval()
    m.norm.running_mean.normal_()
    m.norm.running_var.uniform_(0.5, 2)
    g = LWMHSA(16, window_size=0).eval()
    g.load_state_dict(m.state_dict())
    x = torch.randn(2, 16, *size)
    ref = _global_attention(m, x)
    torch.testing.assert_close(m(x), ref)
    torch.testing.assert_close(g(x), ref)
    big = LWMHSA(16, window_size=16).eval()
    big.load_state_dict(m.state_dict())
    torch.testing.assert_close(big(x), ref)


def test_lw_mhsa_windows_are_independent():
    """Each 7x7 window attends only within itself; the padded border of the
    last windows does not leak into the result."""
    m = LWMHSA(16).eval()
    x = torch.randn(1, 16, 13, 9)
    out = m(x)
    torch.testing.assert_close(out[..., :7, :7],
                               _global_attention(m, x[..., :7, :7]))
    torch.testing.assert_close(out[..., 7:, 7:],
                               _global_attention(m, x[..., 7:, 7:]))


def test_cgsa_gates_input():
    m = CGSA(32).eval()
    x = torch.randn(2, 32, 6, 10)
    out = m(x)
    ratio = out / x
    assert ((ratio > 0) & (ratio < 1)).all()
    # the gate factorises: g[h, w] = g_h[h] * g_w[w]
    r = ratio[0, 0]
    torch.testing.assert_close(r[0:1] * r[:, 0:1] / r[0, 0], r)


@pytest.mark.parametrize('size', [(8, 8), (5, 11), (1, 1)])
def test_dsa_dca_maps_in_unit_interval(size):
    x = 10 * torch.randn(2, 32, *size)
    for m in (DSA(32).train(), DSA(32, group_channels=1).eval(),
              DCA(32).eval()):
        if size == (1, 1) and isinstance(m, DSA) and m.training:
            continue  # BatchNorm1d needs more than one value per channel
        a = m(x)
        assert ((a > 0) & (a < 1)).all()


def test_dsa_map_is_directional_product():
    m = DSA(16).eval()
    a = m(torch.randn(1, 16, 5, 7))[0, 3]
    # rank-1 outer product a_h[h] * a_w[w]
    torch.testing.assert_close(a[0:1] * a[:, 0:1] / a[0, 0], a)


def test_modules_registered():
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as PRE
    from mmseg.registry import MODELS as SEG
    init_default_scope('mmpretrain')
    for name in ('LWMHSA', 'CGSA', 'DSA', 'DCA'):
        for reg in (PRE, DET, SEG):
            assert reg.get(name) is not None
    assert isinstance(PRE.build(dict(type='LWMHSA', channels=16)), LWMHSA)


def test_bad_channels():
    with pytest.raises(ValueError, match='head_dim'):
        LWMHSA(20)
    with pytest.raises(ValueError, match='group_channels'):
        DSA(20)
