"""mmhybrid.analysis's training-step benchmark (tiny: 64x64, batch 1-2, one
or two timed iterations): it really trains (the loss is finite, the
parameters change), on the config's own input size and optimizer wrapper,
with a per-model peak memory and ratios against the baselines. Speed is
measured, never asserted."""
import math
import os.path as osp

import pytest
import torch

from mmhybrid.analysis import (BenchmarkError, TimedTrainStep,
                               benchmark_train, train_batch,
                               train_input_size, train_table)
from mmhybrid.apis import build_model, config_task, load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CPU = torch.device('cpu')
TINY = dict(shape=[64, 64], threads=1, warmup_secs=0, progress=False)


def _cfg(name):
    return osp.join(ROOT, 'configs', name)


def _check_row(r, batch):
    assert r['batch_size'] == batch and r['shape'] == [64, 64]
    assert r['iters'] >= 1
    for key in ('throughput', 'latency_ms', 'loss', 'peak_memory_mb',
                'state_mb', 'step_peak_mb'):
        assert math.isfinite(r[key]) and r[key] > 0, (r['model'], key)
    assert r['throughput'] == pytest.approx(
        batch * 1000 / r['latency_ms'])
    # the model's state (weights, optimizer state) and its step's peak
    assert r['peak_memory_mb'] == pytest.approx(
        r['state_mb'] + r['step_peak_mb'], abs=0.2)
    assert r['peak_memory_kind'] == 'cpu_profiler_allocated'
    assert r['params_changed'] > 0.5  # it trains


def test_train_input_size_follows_the_train_pipeline():
    sizes = {
        'maskrcnn_shvit_s4_coco.py': (800, 1333),
        'maskrcnn_ga_cswin_t_coco_3x.py': (800, 1333),  # largest scale
        'upernet_shvit_s4_ade20k.py': (512, 512),  # the crop
        'ssdlite_harmovision_s_coco.py': (320, 320),
        'imagenet_shvit_s1.py': (224, 224),
        'demo/hamvit_folder_toy.py': (112, 112),  # torchvision Resize
        'demo/fpn_shvit_s1_toy.py': (128, 128),
    }
    for name, hw in sizes.items():
        cfg = load_config(_cfg(name))
        assert train_input_size(cfg, config_task(cfg)) == hw, name


def test_train_batch_packs_ground_truth():
    model = build_model(_cfg('demo/maskrcnn_shvit_s1_toy.py'))
    batch = train_batch(model, 'detection', (48, 64), 2, num_classes=3)
    assert len(batch['inputs']) == 2
    for img, s in zip(batch['inputs'], batch['data_samples']):
        assert img.shape == (3, 48, 64) and img.dtype == torch.uint8
        gt = s.gt_instances
        boxes = gt.bboxes.tensor
        assert boxes.shape == (3, 4) and (gt.labels < 3).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        assert (boxes[:, 2] < 64).all() and (boxes[:, 3] < 48).all()
        assert gt.masks.masks.shape == (3, 48, 64)  # a mask head: masks
        assert gt.masks.masks.sum() > 0
    seg = train_batch(None, 'segmentation', (32, 40), 1, num_classes=5)
    assert seg['data_samples'][0].gt_sem_seg.data.shape == (1, 32, 40)
    assert seg['data_samples'][0].gt_sem_seg.data.max() < 5


def test_a_segmentor_and_a_classifier_train_against_a_baseline():
    """The toy segmentor and SHViT-S1 alternate with SHViT-S2 as the
    baseline: finite figures, the ratios of images/s and peak memory."""
    rows = benchmark_train(
        [_cfg('demo/fpn_shvit_s1_toy.py'), _cfg('imagenet_shvit_s1.py')],
        [_cfg('imagenet_shvit_s2.py')], batch_size=2, iters=2, **TINY)
    assert [(r['role'], r['task']) for r in rows] == [
        ('ours', 'segmentation'), ('ours', 'classification'),
        ('baseline', 'classification')]
    base = rows[-1]
    for r in rows:
        _check_row(r, 2)
        assert r['iters'] == 2
        vs = r['vs']['imagenet_shvit_s2']
        assert vs['speed'] == pytest.approx(
            r['throughput'] / base['throughput'])
        assert vs['memory'] == pytest.approx(
            r['peak_memory_mb'] / base['peak_memory_mb'])
    # the config's own optimizer wrapper (SHViT's AGC), at the learning rate
    # of the Runner's first iteration (the warm-up's start)
    assert rows[1]['optim_wrapper'] == 'AGCOptimWrapper(AdamW)'
    warmup = load_config(_cfg('imagenet_shvit_s1.py')).param_scheduler[0]
    assert warmup['type'] == 'LinearLR'
    assert rows[1]['lr_factor'] == warmup['start_factor']
    assert all(r['nonfinite_losses'] == 0 for r in rows)
    # S2 keeps more weights and optimizer state than S1
    assert rows[1]['state_mb'] < base['state_mb']
    text = train_table(rows)
    r = rows[1]
    assert (f"| imagenet_shvit_s1 | 64x64 | 2 | AGCOptimWrapper(AdamW) | "
            f"{r['throughput']:.3g} |") in text
    assert 'PyTorch profiler' in text


def test_mask_rcnn_shvit_trains_against_mmdet_r50():
    """The issue's pair: Mask R-CNN SHViT-S4 against mmdet's own R50
    (an ``mmdet::`` config, its bases from mmdet's package)."""
    rows = benchmark_train(
        [_cfg('maskrcnn_shvit_s4_coco.py')],
        ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'], batch_size=1,
        iters=1, **TINY)
    ours, base = rows
    assert base['model'] == 'mask-rcnn_r50_fpn_1x_coco'
    assert ours['optim_wrapper'] == 'OptimWrapper(AdamW)'
    assert base['optim_wrapper'] == 'OptimWrapper(SGD)'
    for r in rows:
        _check_row(r, 1)
    assert ours['vs'][base['model']]['speed'] == pytest.approx(
        ours['throughput'] / base['throughput'])


def test_a_step_changes_the_weights_it_trains():
    t = TimedTrainStep('ours', _cfg('demo/fpn_shvit_s1_toy.py'), CPU,
                       (64, 64), 2)
    assert t.model.training and t.params_changed() == 0
    t.step(record=True)
    assert t.params_changed() > 0.5 and math.isfinite(t.losses[-1])
    assert len(t.times) == 1 and t.times[0] > 0


def test_bad_configs_and_options_are_refused(tmp_path):
    with pytest.raises(BenchmarkError, match='config not found'):
        benchmark_train(['configs/nope.py'], **TINY)
    with pytest.raises(BenchmarkError, match='--iters must be >= 1'):
        benchmark_train([_cfg('imagenet_shvit_s1.py')], iters=0, **TINY)
    with pytest.raises(BenchmarkError, match='AmpOptimWrapper trains on a '
                       'GPU'):
        benchmark_train([_cfg('imagenet_shvit_s1.py')], amp=True, **TINY)
    no_train = tmp_path / 'no_train.py'
    no_train.write_text(f"_base_ = {_cfg('imagenet_shvit_s1.py')!r}\n"
                        'train_dataloader = None\n')
    with pytest.raises(BenchmarkError, match='no train_dataloader'):
        benchmark_train([str(no_train)], **TINY)
    # BatchNorm cannot train on one value per channel: said, not a traceback
    with pytest.raises(BenchmarkError, match='training step fails on a '
                       'batch of 1 at 64x64.*--batch-size'):
        benchmark_train([_cfg('imagenet_shvit_s1.py')], batch_size=1,
                        iters=1, **TINY)
