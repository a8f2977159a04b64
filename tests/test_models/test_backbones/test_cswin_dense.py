"""GA-CSWin's CSWin backbone in the dense-prediction models built from the
configs: an image whose sides are not multiples of any stride (333 x 517)
goes unpadded through Mask R-CNN and the ADE20K segmentors, in ``predict``
and in ``loss`` mode, and the outputs come back at the image size."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from tests import ROOT
ODD = (333, 517)
# stem: floor((H - 3) / 4) + 1; each merge conv: ceil(H / 2)
ODD_FEATURE_SHAPES = [(83, 129), (42, 65), (21, 33), (11, 17)]
CHANNELS = [64, 128, 256, 512]


def _build(config, scope, **preprocessor):
    """The model of a config; ``preprocessor`` overrides its data
    preprocessor (here: switch padding off so the backbone sees the odd
    size itself)."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    assert cfg.default_scope == scope
    init_default_scope(scope)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    cfg.model.data_preprocessor.update(preprocessor)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _record_backbone(model):
    """Record the backbone's input shape and output shapes on each call."""
    seen = []

    def hook(module, args, outputs):
        seen.append((tuple(args[0].shape[-2:]),
                     [tuple(o.shape[1:]) for o in outputs]))

    model.backbone.register_forward_hook(hook)
    return seen


def _expected_backbone_call():
    return (ODD, [(c, *hw) for c, hw in zip(CHANNELS, ODD_FEATURE_SHAPES)])


def _assert_backbone_learns(model):
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.backbone.stage1_conv_embed[0].weight.grad.abs().sum() > 0


def _det_data(batch_size=1):
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(batch_size=batch_size,
                          image_shapes=[(3, *ODD)] * batch_size,
                          num_items=[3] * batch_size, num_classes=80,
                          with_mask=True)


@pytest.fixture(scope='module')
def maskrcnn():
    return _build('maskrcnn_ga_cswin_t_coco.py', 'mmdet', pad_size_divisor=1)


def test_maskrcnn_predict_odd_size(maskrcnn):
    seen = _record_backbone(maskrcnn)
    maskrcnn.eval()
    with torch.no_grad():
        results = maskrcnn.test_step(_det_data())
    assert seen == [_expected_backbone_call()]
    pred = results[0].pred_instances
    assert pred.masks.shape[1:] == ODD  # masks at the original image size
    assert len(pred.bboxes) == len(pred.masks) == len(pred.scores)
    if len(pred.bboxes):
        assert (pred.bboxes[:, 0::2] <= ODD[1]).all()
        assert (pred.bboxes[:, 1::2] <= ODD[0]).all()


def test_maskrcnn_roi_features_read_the_right_memory(maskrcnn):
    """mmcv's RoIAlign indexes raw NCHW memory: the maps the RoI heads read
    must give the same RoI features as their contiguous copies (a
    channels-last-strided backbone output, kept so by the FPN convs once the
    batch has 2+ images, gives garbage RoI features and a Mask R-CNN that
    does not learn)."""
    maskrcnn.eval()
    data = maskrcnn.data_preprocessor(_det_data(batch_size=2),
                                      training=False)
    with torch.no_grad():
        feats = maskrcnn.extract_feat(data['inputs'])
        extractor = maskrcnn.roi_head.bbox_roi_extractor
        feats = feats[:extractor.num_inputs]
        # one RoI per FPN level (scales 40, 150, 300, 500 px)
        rois = torch.tensor([[0., 10., 20., 50., 50.],
                             [1., 100., 60., 250., 210.],
                             [0., 50., 20., 350., 320.],
                             [1., 0., 0., 500., 330.]])
        got = extractor(feats, rois)
        expected = extractor(tuple(f.contiguous() for f in feats), rois)
    assert torch.equal(got, expected)


def test_maskrcnn_loss_odd_size(maskrcnn):
    seen = _record_backbone(maskrcnn)
    maskrcnn.train()
    maskrcnn.zero_grad()
    data = maskrcnn.data_preprocessor(_det_data(), training=True)
    losses = maskrcnn(**data, mode='loss')
    assert seen == [_expected_backbone_call()]
    for key in ('loss_rpn_cls', 'loss_cls', 'loss_bbox', 'loss_mask'):
        assert key in losses
    loss, _ = maskrcnn.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    _assert_backbone_learns(maskrcnn)


def _seg_data(num_classes, batch_size):
    from mmseg.structures import SegDataSample
    inputs, samples = [], []
    for _ in range(batch_size):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, *ODD)))
        sample.set_metainfo(dict(img_shape=ODD, ori_shape=ODD))
        samples.append(sample)
        inputs.append(torch.randint(0, 255, (3, *ODD), dtype=torch.uint8))
    return dict(inputs=inputs, data_samples=samples)


# size_divisor=1 instead of the 512 x 512 training pad: no padding at all
SEGMENTORS = ['upernet_ga_cswin_t_ade20k.py', 'fpn_ga_cswin_t_ade20k.py']


@pytest.fixture(scope='module', params=SEGMENTORS)
def segmentor(request):
    return _build(request.param, 'mmseg', size=None, size_divisor=1)


def test_segmentor_predict_odd_size(segmentor):
    seen = _record_backbone(segmentor)
    segmentor.eval()
    with torch.no_grad():
        results = segmentor.test_step(_seg_data(150, batch_size=1))
    assert seen == [_expected_backbone_call()]
    assert results[0].seg_logits.data.shape == (150, *ODD)
    assert results[0].pred_sem_seg.data.shape == (1, *ODD)


def test_segmentor_loss_odd_size(segmentor):
    seen = _record_backbone(segmentor)
    segmentor.train()
    segmentor.zero_grad()
    # 2 images: the heads' BatchNorms see a 1 x 1 pooled map in UperNet's PPM
    data = segmentor.data_preprocessor(_seg_data(150, batch_size=2),
                                       training=True)
    assert data['inputs'].shape[-2:] == ODD
    losses = segmentor(**data, mode='loss')
    assert seen == [_expected_backbone_call()]
    assert 'decode.loss_ce' in losses
    if segmentor.with_auxiliary_head:
        assert 'aux.loss_ce' in losses
    loss, _ = segmentor.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    _assert_backbone_learns(segmentor)
