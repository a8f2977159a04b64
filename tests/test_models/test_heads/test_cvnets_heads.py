"""CVNets' SSDLite and DeepLabv3 components (apple/ml-cvnets): layer shapes
as upstream's model summary (Xuwei86/HarmoVision `detection/HarmoVision-s/
record.log`, `seg/HarmoVision-s/config.yaml`), anchors as CVNets computes
them, and an SSD head that predicts."""
import itertools
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

import mmhybrid.models  # noqa: F401
from mmhybrid.apis import build_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
SSD = osp.join(ROOT, 'configs', 'ssdlite_harmovision_s_coco.py')


def _params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope='module')
def ssd():
    return build_model(SSD)


def test_ssd_layers_match_upstream_summary(ssd):
    # record.log:54-104: extra_layers.os_64 68.864K, os_128 35.84K,
    # os_256 18.048K, os_-1 8.192K; ssd_heads.0.proj_layer 99.328K,
    # ssd_heads.3 67.198K, ssd_heads.5 22.1K
    neck = ssd.neck
    assert [_params(m) for m in neck.extra_layers] == [68864, 35840, 18048]
    assert _params(neck.global_layer) == 8192
    head = ssd.bbox_head
    assert _params(head.projs[0]) == 99328
    assert [type(p).__name__ for p in head.projs[1:]] == ['Identity'] * 5
    assert _params(head.preds[3]) == 67198
    assert _params(head.preds[5]) == 22100
    assert head.num_base_priors == [6, 6, 6, 6, 6, 4]


def _cvnets_anchors(fm, idx, n_levels, ratios, lo=0.1, hi=1.05):
    """CVNets ssd_anchor_generator.py:60-67, 151-193 (normalised cx, cy, w,
    h, clamped to [0, 1])."""
    scales = np.linspace(lo, hi, n_levels + 1)
    s, big = scales[idx], (scales[idx] * scales[idx + 1])**0.5
    out = []
    for y, x in itertools.product(range(fm), range(fm)):
        cx, cy = (x + 0.5) / fm, (y + 0.5) / fm
        out += [[cx, cy, s, s], [cx, cy, big, big]]
        for r in ratios:
            r = r**0.5
            out += [[cx, cy, s * r, s / r], [cx, cy, s / r, s * r]]
    return np.clip(np.array(out), 0, 1)


def test_anchors_are_cvnets(ssd):
    gen = ssd.bbox_head.prior_generator
    sizes = [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    ratios = [[2, 3]] * 5 + [[2]]
    for i, (priors, (fm, _)) in enumerate(
            zip(gen.grid_priors(sizes, device='cpu'), sizes)):
        ours = torch.cat([(priors[:, :2] + priors[:, 2:]) / 2,
                          priors[:, 2:] - priors[:, :2]], 1) / 320
        want = _cvnets_anchors(fm, i, 6, ratios[i])
        assert ours.shape == want.shape
        ours = ours.double().numpy()
        ours, want = (a[np.lexsort(np.round(a, 4).T[::-1])]
                      for a in (ours, want))
        np.testing.assert_allclose(ours, want, atol=1e-5,
                                   err_msg=f'level {i}')


def test_ssd_head_predicts(ssd):
    """mmdet 3.3's SSDHead raises AttributeError (no loss_cls) here."""
    init_default_scope('mmdet')
    from mmdet.testing import demo_mm_inputs
    data = demo_mm_inputs(batch_size=1, image_shapes=[(3, 160, 160)],
                          num_items=[2], num_classes=80)
    with torch.no_grad():
        data = ssd.data_preprocessor(data, False)
        out = ssd(**data, mode='predict')
    pred = out[0].pred_instances
    assert len(pred.bboxes) <= 200 and torch.isfinite(pred.bboxes).all()


def test_ssd_head_checks_arguments():
    from mmhybrid.models import CVNetsSSDHead
    with pytest.raises(ValueError, match='one entry per level'):
        CVNetsSSDHead(in_channels=(8, 8), proj_channels=(8, ),
                      anchor_generator=dict(
                          type='CVNetsSSDAnchorGenerator', input_size=64,
                          strides=[16, 32], ratios=[[2], [2]]))


def test_aspp_head_is_cvnets():
    """CVNets' ASPP (aspp_block.py:52-117): 1x1, three atrous 3x3 and an
    image-pool branch, then a 1x1 projection (mmseg's ASPPHead: 3x3)."""
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    head = MODELS.build(dict(
        type='CVNetsASPPHead', in_channels=256, channels=512,
        dilations=(1, 12, 24, 36), dropout_ratio=0.1, num_classes=150,
        norm_cfg=dict(type='BN')))
    assert head.bottleneck.conv.kernel_size == (1, 1)
    assert head.bottleneck.conv.in_channels == 5 * 512
    assert isinstance(head.dropout, torch.nn.Dropout2d)
    # seg_head.aspp.aspp_layer 5.118M = convs 3.806M + project 1.312M
    # (config.yaml:213-215): 1x1 projection of 5 x 512 to 512 (+ BN)
    assert _params(head.bottleneck) == 5 * 512 * 512 + 2 * 512
    head.eval()
    out = head([torch.randn(1, 256, 9, 9)])
    assert out.shape == (1, 150, 9, 9)
