"""``--eval-protocol``: a config's alternative evaluation pipeline, and
``ResizeImageAndLabel`` (CVNets' segmentation validation: image and label
resized, the prediction scored at that size)."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

import mmhybrid.models  # noqa: F401
from mmhybrid.apis import ConfigError, apply_eval_protocol, load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEEPLAB = osp.join(ROOT, 'configs', 'deeplabv3_harmovision_s_ade20k.py')


def test_protocol_sets_the_test_pipeline():
    cfg = load_config(DEEPLAB)
    default = [t['type'] for t in cfg.test_dataloader.dataset.pipeline]
    apply_eval_protocol(cfg, 'default')
    assert [t['type'] for t in cfg.test_dataloader.dataset.pipeline] == \
        default
    apply_eval_protocol(cfg, 'cvnets')
    for loader in (cfg.test_dataloader, cfg.val_dataloader):
        step = loader.dataset.pipeline[2]
        assert step['type'] == 'ResizeImageAndLabel'
        assert tuple(step['scale']) == (512, 512)
    with pytest.raises(ConfigError, match="'nope' is not offered"):
        apply_eval_protocol(cfg, 'nope')


def test_label_resized_nearest_and_scored_there():
    from mmseg.evaluation import IoUMetric
    from mmseg.registry import TRANSFORMS
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    rng = np.random.default_rng(0)
    label = rng.integers(0, 3, (20, 30)).astype(np.uint8)
    img = rng.integers(0, 255, (20, 30, 3)).astype(np.uint8)
    # _scope_: an earlier test's runner may have left another default scope
    resize = TRANSFORMS.build(dict(type='ResizeImageAndLabel', scale=(8, 6),
                                   _scope_='mmseg'))
    with pytest.raises(ValueError, match='after LoadAnnotations'):
        resize.transform(dict(img=img.copy(), img_shape=(20, 30),
                              ori_shape=(20, 30)))
    out = resize.transform(dict(img=img, gt_seg_map=label, img_shape=(20, 30),
                                ori_shape=(20, 30), seg_fields=['gt_seg_map']))
    assert out['img'].shape[:2] == (6, 8) == out['gt_seg_map'].shape
    assert out['ori_shape'] == (6, 8)  # the prediction is resized to this
    # nearest (no new label values from interpolation), as CVNets' mask
    np.testing.assert_array_equal(
        out['gt_seg_map'],
        cv2.resize(label, (8, 6), interpolation=cv2.INTER_NEAREST))
    # IoUMetric scores against the resized label: a prediction equal to it
    # is perfect, one equal to the original-size label cannot be compared
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    gt = torch.from_numpy(out['gt_seg_map']).long()
    sample = SegDataSample(gt_sem_seg=PixelData(data=gt[None]),
                           pred_sem_seg=PixelData(data=gt[None]))
    metric.process({}, [sample.to_dict()])
    assert metric.compute_metrics(metric.results)['mIoU'] == 100.0
