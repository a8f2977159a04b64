"""Every config predicts: its model, built from the config, runs ``predict``
once on a small synthetic batch through its data preprocessor (as
``tools/test.py`` and ``tools/inference.py`` do) and returns its task's data
sample with finite outputs."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmhybrid.apis import build_model, config_task

from .test_configs import CONFIGS, ROOT, _cls_batch, _det_batch, _seg_batch


def _finite(*tensors):
    return all(bool(torch.isfinite(t.float()).all()) for t in tensors)


def _check_detection(sample, size):
    from mmdet.structures import DetDataSample
    assert isinstance(sample, DetDataSample)
    pred = sample.pred_instances
    assert pred.bboxes.ndim == 2 and pred.bboxes.shape[1] == 4
    assert len(pred.scores) == len(pred.labels) == len(pred.bboxes)
    assert _finite(pred.bboxes, pred.scores)
    if 'masks' in pred:
        assert tuple(pred.masks.shape[-2:]) == size


def _check_segmentation(sample, size, num_classes):
    from mmseg.structures import SegDataSample
    assert isinstance(sample, SegDataSample)
    assert tuple(sample.pred_sem_seg.data.shape) == (1, *size)
    logits = sample.seg_logits.data
    assert logits.shape[0] == num_classes and _finite(logits)


def _check_classification(sample, num_classes):
    from mmpretrain.structures import DataSample
    assert isinstance(sample, DataSample)
    assert sample.pred_score.shape == (num_classes, )
    assert _finite(sample.pred_score)


@pytest.mark.parametrize('config', CONFIGS)
def test_config_predicts(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    model = build_model(cfg)  # eval mode, PyTorch's initialisation
    init_default_scope(cfg.default_scope)
    task = config_task(cfg)
    if task == 'detection':
        size = (128, 160)
        data = _det_batch(size, 'mask_head' in cfg.model.get('roi_head', {}))
    elif task == 'segmentation':
        size = (128, 128)
        data = _seg_batch(size, cfg.model.decode_head.num_classes)
    else:
        size = (96, 96)
        data = _cls_batch(size, cfg.model.head.num_classes)
    with torch.no_grad():
        data = model.data_preprocessor(data, False)
        samples = model(**data, mode='predict')
    assert len(samples) == 2
    for sample in samples:
        if task == 'detection':
            _check_detection(sample, size)
        elif task == 'segmentation':
            _check_segmentation(sample, size,
                                cfg.model.decode_head.num_classes)
        else:
            _check_classification(sample, cfg.model.head.num_classes)
