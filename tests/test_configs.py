"""Every config builds in its framework and runs one training step on CPU on
a tiny batch (the optimizer from the config, parameters really updated)."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from mmhybrid.apis import build_model, config_task

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'demo', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'ablations', '*.py')))


def _det_batch(size, with_mask):
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(batch_size=2, image_shapes=[(3, *size)] * 2,
                          num_items=[3, 2], num_classes=2,
                          with_mask=with_mask)


def _seg_batch(size, num_classes):
    from mmseg.structures import SegDataSample
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 255, (3, *size), dtype=torch.uint8))
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(
            0, num_classes, (1, *size)))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size,
                                 pad_shape=size))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _cls_batch(size, num_classes):
    from mmpretrain.structures import DataSample
    inputs = [torch.randint(0, 255, (3, *size), dtype=torch.uint8)
              for _ in range(2)]
    samples = [DataSample().set_gt_label(i % num_classes) for i in range(2)]
    return dict(inputs=inputs, data_samples=samples)


def _build(cfg):
    model = build_model(cfg)  # in the config's scope, as the Runner builds
    model.init_weights()
    # the optimizer and the training step run in the config's scope too
    init_default_scope(cfg.default_scope)
    return config_task(cfg), model


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_and_trains_one_step(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert 'mmhybrid.models' in cfg.custom_imports['imports']
    task, model = _build(cfg)
    model.train()
    if task == 'detection':
        with_mask = 'mask_head' in cfg.model.get('roi_head', {})
        data = _det_batch((128, 160), with_mask)
    elif task == 'segmentation':
        data = _seg_batch((128, 128), cfg.model.decode_head.num_classes)
    else:
        data = _cls_batch((96, 96), cfg.model.head.num_classes)
    optim_cfg = cfg.optim_wrapper.copy()
    if optim_cfg.get('type') == 'AmpOptimWrapper' and \
            not torch.cuda.is_available():
        # mmengine's AmpOptimWrapper refuses CPUs: the step runs in fp32
        optim_cfg.type = 'OptimWrapper'
        optim_cfg.pop('dtype', None)
        optim_cfg.pop('loss_scale', None)
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters()
              if p.requires_grad}
    log_vars = model.train_step(data, optim_wrapper)
    assert torch.isfinite(torch.as_tensor(log_vars['loss']))
    changed = [n for n, p in model.named_parameters()
               if p.requires_grad and not torch.equal(before[n], p)]
    assert any(n.startswith('backbone.') for n in changed), \
        'no backbone parameter was updated'


def test_readme_swap_into_mmdet_mask_rcnn(tmp_path):
    """The README's example (SHViT swapped into mmdet's stock Mask R-CNN
    config) builds and trains a step."""
    readme = open(osp.join(ROOT, 'README.md'), encoding='utf-8').read()
    blocks = [b.split('```', 1)[0] for b in readme.split('```python\n')[1:]]
    snippet = next(b for b in blocks
                   if "mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py" in b)
    path = tmp_path / 'swap.py'
    path.write_text(snippet)
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.init_cfg = None  # the README's checkpoint is a path
    task, model = _build(cfg)
    assert task == 'detection'
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    log_vars = model.train_step(_det_batch((128, 160), True), optim_wrapper)
    assert torch.isfinite(torch.as_tensor(log_vars['loss']))
