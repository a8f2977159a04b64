"""mmhybrid's mends to mmdeploy (mmhybrid.deploy.onnx.rewriters): exact at
their cause, registered only while exporting, and the export's clear
errors."""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmhybrid.deploy.onnx import ExportError, export_model, nonstandard_ops
from mmhybrid.deploy.onnx.exporter import mmdeploy_context
from mmhybrid.deploy.onnx.rewriters import (FUNCTIONS, SYMBOLICS,
                                              adaptive_avg_pool2d_exact,
                                              mmdeploy_rewriters,
                                              paste_masks,
                                              registered_objects)

import mmdeploy  # noqa: F401 (make install installs it)
import onnxruntime as ort
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OURS = [f for _, f in FUNCTIONS] + [f for _, f, _ in SYMBOLICS]


@pytest.mark.parametrize('hw', [(16, 16), (13, 19), (6, 6)])
def test_adaptive_pool_is_pytorchs(hw):
    x = torch.randn(2, 4, *hw)
    for out in (1, 2, 3, 6, (2, 5)):
        ref = F.adaptive_avg_pool2d(x, out)
        assert torch.allclose(adaptive_avg_pool2d_exact(x, out), ref,
                              atol=1e-6), out


@pytest.mark.parametrize('hw', [(40, 56), (33, 21)])
def test_separable_paste_is_mmdets(hw):
    """The two-MatMul paste gives mmdet's own pasted masks (its CPU path:
    ``grid_sample`` inside each box) at image size, boxes partly outside
    the image and tiny boxes included."""
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import \
        _do_paste_mask
    g = torch.Generator().manual_seed(0)
    h, w = hw
    masks = torch.rand(6, 28, 28, generator=g)
    xy = torch.rand(6, 2, generator=g) * torch.tensor([w, h]) - 5
    wh = torch.rand(6, 2, generator=g) * torch.tensor([w, h]) + 0.3
    boxes = torch.cat([xy, xy + wh], 1)
    out = paste_masks(masks, boxes, h, w)
    assert out.shape == (6, h, w)
    for i in range(6):
        ref = torch.zeros(h, w)
        crop, where = _do_paste_mask(masks[i:i + 1, None], boxes[i:i + 1],
                                     h, w, skip_empty=True)
        ref[where] = crop[0]
        assert ref.abs().sum() > 0
        torch.testing.assert_close(out[i], ref, atol=1e-5, rtol=0)


def _seg_deploy_cfg(dynamic):
    from mmengine import Config
    axes = {0: 'batch', 2: 'height', 3: 'width'}
    return Config(dict(
        onnx_config=dict(type='onnx', opset_version=17,
                         input_names=['input'], output_names=['output'],
                         dynamic_axes=dict(input=axes, output=axes)
                         if dynamic else None),
        codebase_config=dict(type='mmseg', task='Segmentation'),
        backend_config=dict(type='onnxruntime')))


def _export_ppm(path, ours):
    """UperNet's pyramid pooling (scales 1, 2, 3, 6) through mmdeploy's
    rewriters, with or without mmhybrid's."""
    from mmdeploy.core import RewriterContext
    from mmdeploy.utils import IR
    from mmseg.models.decode_heads.psp_head import PPM

    class Pool(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.ppm = PPM((1, 2, 3, 6), 8, 4, None, None,
                           dict(type='ReLU'), align_corners=False)

        def forward(self, x):
            return torch.cat([x, *self.ppm(x)], 1)

    model = Pool().eval()
    cfg = _seg_deploy_cfg(dynamic=True)
    x = torch.randn(1, 8, 16, 16)
    ctx = mmdeploy_context(cfg, 17) if ours else RewriterContext(
        cfg=cfg, backend='onnxruntime', opset=17, ir=IR.ONNX)
    with ctx, torch.no_grad():
        torch.onnx.export(model, (x, ), path, input_names=['input'],
                          output_names=['output'], opset_version=17,
                          dynamic_axes=cfg.onnx_config.dynamic_axes,
                          dynamo=False)
    return model


def _ppm_error(model, path, hw):
    x = torch.randn(1, 8, *hw)
    with torch.no_grad():
        ref = model(x).numpy()
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return float(np.abs(sess.run(None, {'input': x.numpy()})[0] - ref).max())


def test_pyramid_pooling_exact_on_16x16_and_other_sizes(tmp_path):
    path = str(tmp_path / 'ppm.onnx')
    model = _export_ppm(path, ours=True)
    assert nonstandard_ops(path) == []
    for hw in [(16, 16), (13, 19), (32, 24)]:  # dynamic: other sizes too
        assert _ppm_error(model, path, hw) < 1e-5, hw
    # the gap it mends: mmdeploy's own fixed pooling is wrong on 16 x 16
    plain = str(tmp_path / 'ppm_mmdeploy.onnx')
    model = _export_ppm(plain, ours=False)
    assert _ppm_error(model, plain, (16, 16)) > 1e-3


def test_rewriters_are_removed_after_use():
    assert not set(OURS) & set(registered_objects())
    with mmdeploy_rewriters():
        assert set(OURS) <= set(registered_objects())
    assert not set(OURS) & set(registered_objects())
    with pytest.raises(RuntimeError, match='boom'):
        with mmdeploy_rewriters():
            raise RuntimeError('boom')
    assert not set(OURS) & set(registered_objects())


def test_nonstandard_ops_are_named(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    node = helper.make_node('grid_sampler', ['x', 'g'], ['y'],
                            domain='mmdeploy')
    graph = helper.make_graph(
        [node, helper.make_node('Relu', ['y'], ['z'])], 'g',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1]),
         helper.make_tensor_value_info('g', TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info('z', TensorProto.FLOAT, [1])])
    path = str(tmp_path / 'custom.onnx')
    onnx.save(helper.make_model(graph), path)
    assert nonstandard_ops(path) == ['mmdeploy::grid_sampler']


def test_classifier_config_is_not_exported_whole(tmp_path):
    config = osp.join(ROOT, 'configs/imagenet_shvit_s1.py')
    with pytest.raises(ExportError, match='imagenet_shvit_s1.py is a '
                       'classification config'):
        export_model(config, str(tmp_path / 'x.onnx'))


def test_old_opset_is_refused_by_name(tmp_path):
    config = osp.join(ROOT, 'configs/demo/maskrcnn_shvit_s1_toy.py')
    with pytest.raises(ExportError, match='opset >= 16.*got 13'):
        export_model(config, str(tmp_path / 'x.onnx'), opset=13)


def test_import_loads_no_exporter():
    """Importing the deploy package loads neither mmdeploy nor onnx,
    onnxruntime or coremltools: they load when an export runs."""
    import subprocess
    import sys
    code = ('import sys, mmhybrid.deploy; print(sorted(m for m in '
            "('mmdeploy', 'onnx', 'onnxruntime', 'coremltools') "
            'if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == '[]', out.stdout
