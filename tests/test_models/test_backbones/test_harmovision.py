"""HarmoVision: spec sizes, ablation switches, its rounding of odd input
sizes (the backbone contract: test_contract.py)."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info
from mmengine.registry import init_default_scope

from mmhybrid.deploy import BatchChunked
from mmhybrid.models import HarmoVision, HarmoVisionClsHead
from mmhybrid.models.backbones.harmovision import (HarmoVisionBlock,
                                                  LWMHSADeploy)
from mmhybrid.models.layers import CGSA, DCA, DSA, LWMHSA

ARCHS = ['n', 't', 's']
# spec table (1000-class classifier): params rounded to thousands, FVCore
# FLOPs (one multiply-add = one flop) at 224 x 224
PARAMS_K = {'n': 1354, 't': 2463, 's': 5691}
FLOPS = {'n': 0.371e9, 't': 0.562e9, 's': 1.455e9}


class Classifier(nn.Module):
    def __init__(self, arch, **kwargs):
        super().__init__()
        self.backbone = HarmoVision(arch, out_indices=(4, ), **kwargs)
        self.head = HarmoVisionClsHead(1000, self.backbone.channels[-1])

    def forward(self, x):
        return self.head(self.backbone(x))


def _n(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('arch', ARCHS)
def test_param_count_matches_spec(arch):
    init_default_scope('mmpretrain')
    n = _n(Classifier(arch))
    print(f'{arch}: {n} params ({n / 1e6:.3f}M) with the 1000-class head')
    assert round(n / 1e3) == PARAMS_K[arch]


@pytest.mark.parametrize('arch', ARCHS)
def test_flops_within_2_percent(arch):
    init_default_scope('mmpretrain')
    info = get_model_complexity_info(Classifier(arch).eval(),
                                     input_shape=(3, 224, 224),
                                     show_table=False, show_arch=False)
    flops = info['flops']
    print(f'{arch}: {flops / 1e9:.4f}G FLOPs at 224 (spec '
          f'{FLOPS[arch] / 1e9}G, {100 * (flops / FLOPS[arch] - 1):+.2f}%)')
    assert abs(flops - FLOPS[arch]) / FLOPS[arch] < 0.02


def test_head_widths():
    init_default_scope('mmpretrain')
    for arch, mid in [('n', 448), ('t', 640), ('s', 960)]:
        assert Classifier(arch).head.mid_channels == mid


def test_classifier_output():
    init_default_scope('mmpretrain')
    model = Classifier('n').eval()
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def _blocks(model):
    return [m for m in model.modules() if isinstance(m, HarmoVisionBlock)]


SWITCHES = {
    'use_lw_mhsa': lambda c, g: LWMHSA(c),
    'use_cgsa': lambda c, g: CGSA(c),
    'use_dsa': lambda c, g: DSA(c, group_channels=g),
    'use_dca': lambda c, g: DCA(c),
}


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('switch', sorted(SWITCHES))
def test_switch_removes_exactly_its_module(arch, switch):
    full = HarmoVision(arch)
    ablated = HarmoVision(arch, **{switch: False})
    g = full.arch['dsa_group_channels']
    own = sum(_n(SWITCHES[switch](b.norm1.num_channels // 2, g))
              for b in _blocks(full))
    assert own > 0
    assert _n(full) - _n(ablated) == own
    # every remaining parameter keeps its name and shape
    full_sd = full.state_dict()
    for k, v in ablated.state_dict().items():
        assert full_sd[k].shape == v.shape


class _Ones(nn.Module):
    def forward(self, x):
        return torch.ones_like(x[:, :, :1, :1])


@pytest.mark.parametrize('switch,attr,replacement',
                         [('use_lw_mhsa', 'lw_mhsa', nn.Identity),
                          ('use_cgsa', 'cgsa', nn.Identity),
                          ('use_dsa', 'dsa', _Ones),
                          ('use_dca', 'dca', _Ones)])
def test_switched_off_means_identity_or_no_gate(switch, attr, replacement):
    ablated = HarmoVision('n', **{switch: False}).eval()
    full = HarmoVision('n').eval()
    full.load_state_dict(ablated.state_dict(), strict=False)
    for block in _blocks(full):
        setattr(block, attr, replacement())
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(full(x), ablated(x)):
        torch.testing.assert_close(a, b)


def test_residual_upstream_adds_to_normalised_input():
    torch.manual_seed(0)
    up = HarmoVisionBlock(32, drop_path=0.).eval()
    std = HarmoVisionBlock(32, drop_path=0., residual='standard').eval()
    std.load_state_dict(up.state_dict())
    with torch.no_grad():  # non-trivial LayerNorm affine
        up.norm1.weight.uniform_(0.5, 2)
        up.norm1.bias.normal_()
        std.norm1.load_state_dict(up.norm1.state_dict())
    for block in (up, std):  # isolate the attention branch
        block.mv2 = _Zero()
    x = torch.randn(2, 32, 9, 11)
    torch.testing.assert_close(std(x) - up(x), x - up.norm1(x))
    with pytest.raises(ValueError, match='upstream'):
        HarmoVisionBlock(32, residual='pre')


class _Zero(nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)


@pytest.mark.parametrize('size', [(97, 131), (33, 47), (224, 224), (1, 1)])
def test_any_input_size(size):
    model = HarmoVision('n', out_indices=(0, 1, 2, 3, 4)).eval()
    outs = model(torch.randn(1, 3, *size))
    for out, s in zip(outs, (2, 4, 8, 16, 32)):
        assert out.shape[2:] == (-(-size[0] // s), -(-size[1] // s))


def test_default_out_channels():
    assert HarmoVision('s').out_channels == [64, 128, 192, 256]
    assert HarmoVision('n').out_channels == [48, 64, 80, 112]
    assert HarmoVision('t').out_channels == [64, 96, 128, 160]


def test_output_stride_8():
    model = HarmoVision('s', output_stride=8).eval()
    outs = model(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape[1:]) for o in outs] == [
        (64, 16, 24), (128, 8, 12), (192, 8, 12), (256, 8, 12)]
    # same parameters as the stride-32 model; layer5's downsampler dilated
    assert _n(model) == _n(HarmoVision('s'))
    dw = model.layer5[0].block.conv_3x3[0].c
    assert dw.stride == (1, 1) and dw.dilation == (2, 2)
    assert model.layer4[0].block.conv_3x3[0].c.stride == (1, 1)
    with pytest.raises(ValueError, match='output_stride'):
        HarmoVision('s', output_stride=16)


def test_pretrained_roundtrip(tmp_path):
    init_default_scope('mmpretrain')
    src = Classifier('n')
    path = tmp_path / 'hv_n.pth'
    torch.save({'state_dict': src.state_dict()}, path)
    model = HarmoVision('n', init_cfg=dict(type='Pretrained',
                                           checkpoint=str(path),
                                           prefix='backbone.'))
    model.init_weights()
    for k, v in src.backbone.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)


def test_custom_arch():
    arch = dict(channels=[8, 16, 16, 32, 32, 48], expansions=[1, 2, 2, 2, 2],
                depths=[1, 1, 1], dsa_group_channels=8)
    outs = HarmoVision(arch).eval()(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [16, 32, 32, 48]


def _randomise_norms(model):
    """BN statistics and affines, LayerNorm affines away from the identity,
    so that folding them (deploy) is a real transformation."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features,
                                                 generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features,
                                               generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            elif isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


def _assert_deploy_equals_eval(model, x):
    from mmhybrid.models.backbones import harmovision as hv
    with torch.no_grad():
        ref = model(x)
        model.switch_to_deploy()
    blocks = [m for m in model.modules()
              if isinstance(m, hv.HarmoVisionBlockDeploy)]
    assert blocks and not _blocks(model)  # every block has its deploy form
    calls = []
    sdpa = hv.F.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(1)
        return sdpa(*args, **kwargs)

    hv.F.scaled_dot_product_attention = counting
    try:
        # inference (in-place fast paths, batch chunks) and recording
        # (autograd, as ONNX export traces it: functional paths)
        for mode in (torch.no_grad, torch.inference_mode, torch.enable_grad):
            with mode():
                outs = model(x)
            for o, r in zip(outs, ref, strict=True):
                assert o.shape == r.shape and o.is_contiguous()
                torch.testing.assert_close(o.detach(), r, rtol=1e-3,
                                           atol=1e-4 * float(r.abs().max()))
    finally:
        hv.F.scaled_dot_product_attention = sdpa
    return blocks, calls


@pytest.mark.parametrize('arch', ARCHS)
def test_deploy_equals_eval(arch):
    """The deploy form (folded norms, token-layout blocks, unpadded window
    attention, batch chunks) computes the model as trained, at a size that
    leaves partial windows at every stage (and batch 3: uneven chunks)."""
    torch.manual_seed(0)
    model = _randomise_norms(HarmoVision(arch, out_indices=(0, 1, 2, 3, 4)))
    model.deploy_chunk_bytes = 1 << 20  # several chunks at stride 2-8
    blocks, calls = _assert_deploy_equals_eval(model.eval(),
                                               torch.randn(3, 3, 97, 131))
    assert all(isinstance(b.lw_mhsa, LWMHSADeploy) for b in blocks)
    # the stages' fuse() made them batch-chunked, with the budget set above
    stages = [model.stem] + model.stages()
    assert all(type(s) is BatchChunked and s.chunk_bytes == 1 << 20
               for s in stages)
    assert len(calls) >= 2 * len(blocks)  # window attention ran as SDPA


@pytest.mark.parametrize('kwargs', [
    dict(residual='standard'), dict(use_lw_mhsa=False), dict(use_cgsa=False),
    dict(use_dsa=False), dict(use_dca=False), dict(window_size=0),
    dict(output_stride=8)])
def test_deploy_equals_eval_variants(kwargs):
    torch.manual_seed(0)
    model = _randomise_norms(HarmoVision('n', **kwargs)).eval()
    _assert_deploy_equals_eval(model, torch.randn(2, 3, 64, 80))


def test_deploy_attention_maps_as_trained():
    """With attention capture on, the deploy form hands the tools the maps
    of the model as trained (LW-MHSA's padded, masked softmax included)."""
    from mmhybrid.visualization import capture_attention
    torch.manual_seed(0)
    model = _randomise_norms(HarmoVision('n')).eval()
    deployed = copy.deepcopy(model)
    deployed.switch_to_deploy()
    x = torch.randn(2, 3, 97, 131)
    ref = capture_attention(model, lambda: model(x))
    got = capture_attention(deployed, lambda: deployed(x))
    assert len(got) == len(ref) > 0
    for a, b in zip(got, ref, strict=True):
        assert (a['name'], a['type'], a['hw']) == (b['name'], b['type'],
                                                   b['hw'])
        assert a['maps'].keys() == b['maps'].keys()
        for k in a['maps']:
            torch.testing.assert_close(a['maps'][k], b['maps'][k],
                                       rtol=1e-3, atol=1e-5)
