"""mmhybrid's mend of mmdeploy's ``scaled_dot_product_attention`` rewrite
(mmhybrid.deploy.onnx.rewriters): PyTorch's definition, exact through
mmdeploy; HarmoVision's windowed attention (``scale=head_dim ** -0.5``)
exports exactly, deploy form and as trained."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmhybrid.deploy import switch_to_deploy
from mmhybrid.deploy.onnx import nonstandard_ops, randomize_norms
from mmhybrid.deploy.onnx.exporter import mmdeploy_context
from mmhybrid.deploy.onnx.rewriters import \
    scaled_dot_product_attention_exact

import mmdeploy  # noqa: F401 (make install installs it)
import onnxruntime as ort


def _qkv(seed=0, L=7, S=5, E=8):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, n, E, generator=g) * 2 for n in (L, S, S)]


@pytest.mark.parametrize('kwargs', [
    dict(), dict(scale=0.125), dict(scale=3.0), dict(is_causal=True),
    dict(mask='bool'), dict(mask='float', scale=0.5)])
def test_sdpa_is_pytorchs(kwargs):
    q, k, v = _qkv()
    kwargs = dict(kwargs)
    mask = kwargs.pop('mask', None)
    if kwargs.get('is_causal'):
        k, v = _qkv(1, L=7, S=7)[1:]
    if mask == 'bool':
        kwargs['attn_mask'] = torch.rand(7, 5) > 0.3
        kwargs['attn_mask'][:, 0] = True  # no fully masked row (NaN)
    elif mask == 'float':
        kwargs['attn_mask'] = torch.randn(2, 1, 7, 5)
    ref = F.scaled_dot_product_attention(q, k, v, **kwargs)
    got = scaled_dot_product_attention_exact(q, k, v, **kwargs)
    assert torch.allclose(got, ref, atol=1e-5), float((got - ref).abs().max())


def _deploy_cfg():
    from mmengine import Config
    return Config(dict(
        onnx_config=dict(type='onnx', opset_version=17,
                         input_names=['input'], output_names=['output'],
                         dynamic_axes=None),
        codebase_config=dict(type='mmseg', task='Segmentation'),
        backend_config=dict(type='onnxruntime')))


def _export(model, x, path, ours=True, x2=None):
    """``model`` on ``x`` through mmdeploy's rewriters (with or without
    mmhybrid's); max |onnxruntime - PyTorch| / max |PyTorch| per output.
    With ``x2`` the graph has dynamic height and width and is checked on
    ``x2``, another size."""
    from mmdeploy.core import RewriterContext
    from mmdeploy.utils import IR
    cfg = _deploy_cfg()
    model.eval()
    ctx = mmdeploy_context(cfg, 17) if ours else RewriterContext(
        cfg=cfg, backend='onnxruntime', opset=17, ir=IR.ONNX)
    with ctx, torch.no_grad():
        torch.onnx.export(
            model, (x, ), path, input_names=['input'], opset_version=17,
            dynamo=False, dynamic_axes=None if x2 is None else
            dict(input={2: 'height', 3: 'width'}))
    assert nonstandard_ops(path) == []
    x = x if x2 is None else x2
    with torch.no_grad():
        ref = model(x)
    ref = [r.numpy() for r in (ref if isinstance(ref, tuple) else (ref, ))]
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = sess.run(None, {'input': x.numpy()})
    return [float(np.abs(r - g).max() / np.abs(r).max())
            for r, g in zip(ref, got)]


class _Attention(torch.nn.Module):

    def forward(self, x):
        q, k, v = x.unbind(1)
        return F.scaled_dot_product_attention(q, k, v,
                                              scale=q.shape[-1]**-0.5)


def test_sdpa_with_scale_exports_exactly(tmp_path):
    x = torch.stack(_qkv(2, L=6, S=6, E=16), 1)
    assert max(_export(_Attention(), x, str(tmp_path / 'a.onnx'))) < 1e-5
    # the gap it mends: mmdeploy's own rewrite divides by the scale
    plain = _export(_Attention(), x, str(tmp_path / 'b.onnx'), ours=False)
    assert max(plain) > 1e-2


@pytest.mark.parametrize('deploy,dynamic', [(True, False), (True, True),
                                            (False, False), (False, True)])
def test_harmovision_backbone_exact_through_mmdeploy(tmp_path, deploy,
                                                     dynamic):
    from mmhybrid.apis import build_model
    torch.manual_seed(0)
    model = build_model(backbone='HarmoVision', arch='s',
                        cfg_options=dict(out_indices=(3, 4)))
    randomize_norms(model, 0)
    if deploy:
        assert switch_to_deploy(model)
    x = torch.rand(1, 3, 128, 160)
    x2 = None
    if dynamic and deploy:
        # traced where every map has partial windows (7x7 windows; 16x20,
        # 8x10, 4x5 at strides 8, 16, 32), run where some have none
        # (14x28, 7x14, 4x7)
        x2 = torch.rand(1, 3, 112, 224)
    elif dynamic:
        # traced where no map has a partial window (28, 14, 7), run where
        # every map has: the padding and its mask must not be frozen away
        x, x2 = torch.rand(1, 3, 224, 224), x
    errs = _export(model, x, str(tmp_path / 'hv.onnx'), x2=x2)
    assert len(errs) == 2 and max(errs) < 1e-4, errs
