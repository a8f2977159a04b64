"""Which of mmcv's compiled ops (``mmcv._ext``) each config calls: one
training step and one prediction of a detection or segmentation config at a
small shape, with :func:`mmhybrid.engine.record_mmcv_ext_calls` around each
(``tools/misc/mmcv_ext_usage.py`` prints it for every config). This is how
the ops of :mod:`mmhybrid.engine.mmcv_ext_torchvision` were chosen.

The model has random weights, so every score threshold of its test config
is set to 0 for the record: otherwise a prediction may stop before NMS and
the mask head. Only the device it runs on is seen: an op that a framework
calls on CUDA only (mmdet's ``FocalLoss`` calls mmcv's compiled
``sigmoid_focal_loss`` for CUDA tensors only) shows only in a CUDA run.
"""
import collections
import glob
import os.path as osp

import torch

from mmhybrid.apis import build_model, config_task, load_config
from mmhybrid.engine import record_mmcv_ext_calls

__all__ = ['mmcv_ext_calls_of_config', 'dense_prediction_configs',
           'mmcv_ext_usage_table']


def dense_prediction_configs(config_dir='configs'):
    """The detection and segmentation configs under ``config_dir`` (its
    top level, ``demo/`` and ``ablations/``), sorted."""
    paths = []
    for pattern in ('*.py', 'demo/*.py', 'ablations/*.py'):
        paths += glob.glob(osp.join(config_dir, pattern))
    out = []
    for path in sorted(paths):
        if config_task(load_config(path)) in ('detection', 'segmentation'):
            out.append(path)
    return out


def _zero_score_thresholds(cfg):
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            if key == 'score_thr':
                cfg[key] = 0.0
            else:
                _zero_score_thresholds(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            _zero_score_thresholds(value)


def _det_batch(size, num_classes, with_mask):
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(batch_size=2, image_shapes=[(3, *size)] * 2,
                          num_items=[3, 2], num_classes=num_classes,
                          with_mask=with_mask)


def _seg_batch(size, num_classes):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 255, (3, *size), dtype=torch.uint8,
                                    generator=gen))
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(
            0, num_classes, (1, *size), generator=gen))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size,
                                 pad_shape=size))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _num_classes(model_cfg):
    for key in ('decode_head', 'bbox_head'):
        head = model_cfg.get(key)
        if head is not None:
            return head['num_classes']
    heads = model_cfg['roi_head']['bbox_head']
    return (heads[0] if isinstance(heads, list) else heads)['num_classes']


def mmcv_ext_calls_of_config(config, size=(128, 160), device='cpu'):
    """Record the compiled mmcv ops that one training step and one
    prediction of a detection or segmentation ``config`` call.

    Returns ``{'train': Counter, 'predict': Counter}`` of
    ``(op, device type) -> calls``. The training step runs with plain SGD
    (the ops called do not depend on the optimizer) on a batch of 2 random
    images of ``size`` with random boxes/masks/labels."""
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope
    cfg = load_config(config)
    task = config_task(cfg)
    if task not in ('detection', 'segmentation'):
        raise ValueError(f'{config}: a {task} config; only detection and '
                         'segmentation configs are recorded')
    _zero_score_thresholds(cfg.model)
    model = build_model(cfg, device=device)
    model.init_weights()
    init_default_scope(cfg.default_scope)
    num_classes = _num_classes(cfg.model)
    if task == 'detection':
        with_mask = 'mask_head' in cfg.model.get('roi_head', {})
        data = _det_batch(size, num_classes, with_mask)
    else:
        data = _seg_batch(size, num_classes)
    calls = {}
    model.train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-4))
    with record_mmcv_ext_calls() as calls['train']:
        model.train_step(data, optim)
    model.eval()
    with record_mmcv_ext_calls() as calls['predict'], torch.no_grad():
        model.test_step(data)
    return calls


def mmcv_ext_usage_table(usage):
    """Markdown lines for ``{config: mmcv_ext_calls_of_config(...)}``: one
    row per config with the ops of each phase, then the union."""
    lines = ['| config | train step | predict |', '|---|---|---|']
    union = collections.Counter()

    def ops(counter):
        return ', '.join(f'{op} ({dev}) x{n}'
                         for (op, dev), n in sorted(counter.items())) or '-'

    for config, calls in usage.items():
        lines.append(f'| {config} | {ops(calls["train"])} | '
                     f'{ops(calls["predict"])} |')
        union.update(calls['train'])
        union.update(calls['predict'])
    ops_called = sorted({op for op, _ in union})
    lines.append('')
    lines.append('ops called: ' + (', '.join(ops_called) or 'none'))
    return lines
