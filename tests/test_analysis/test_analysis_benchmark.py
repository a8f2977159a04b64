"""mmhybrid.analysis's benchmarks (tiny: SHViT-S1, 64x64, batch 2, 0.2 s
windows) return what they promise, and the timing protocol alternates its
models. Speed is measured, never asserted."""
import os.path as osp

import pytest
import torch

from mmhybrid.analysis import (BenchmarkError, Timed, benchmark_models,
                               benchmark_task, build_targets,
                               plot_accuracy_throughput, run_window,
                               summarize_times, task_config, task_forms,
                               task_table, throughput_table)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = dict(batch_size=2, threads=1, warmup_secs=0.2, secs=0.2,
            progress=False)


class _Clock:
    """A stand-in model under test that logs the order it runs in."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def step(self, record):
        self.log.append(self.name)
        return float('inf') if len(self.log) >= 8 else 0.


def test_run_window_alternates_in_abba_order():
    log = []
    run_window([_Clock('a', log), _Clock('b', log)], secs=1., record=True)
    assert log == ['a', 'b', 'b', 'a', 'a', 'b', 'b', 'a']


def test_timed_records_only_when_asked():
    device = torch.device('cpu')
    t = Timed('m', 'impl', 'unfused', lambda x: x * 2, torch.ones(2),
              device, 'fp32')
    t.step(record=False)
    assert t.times == []
    t.step(record=True)
    t.step(record=True)
    assert len(t.times) == 2 and all(x >= 0 for x in t.times)


def test_summarize_times():
    s = summarize_times([0.1, 0.3, 0.2], batch=4)
    assert s['iters'] == 3
    assert s['throughput'] == pytest.approx(12 / 0.6)
    assert s['latency_ms'] == pytest.approx(200.)
    assert s['latency_median_ms'] == pytest.approx(200.)


def test_compare_timm_ratio_and_table():
    import timm  # noqa: F401 (make install installs it; missing = failure)
    targets = build_targets(backbone='SHViT', archs=['s1'], shape=[64])
    res = benchmark_models(targets, deploy=True, dtypes=['bf16'],
                           compare_timm=True, **TINY)
    assert [r['mode'] for r in res] == ['unfused', 'deploy']
    text = throughput_table(res)
    assert 'ours/timm' in text
    for r in res:
        assert r['timm']['model'] == 'shvit_s1'
        assert r['ratio_vs_timm'] == pytest.approx(
            r['throughput'] / r['timm']['throughput'])
        # alternated every iteration: both ran equally often in the window
        assert r['iters'] == r['timm']['iters'] >= 1
        assert f"{r['ratio_vs_timm']:.2f}x" in text
        assert r['gflops_per_s'] == pytest.approx(
            r['flops'] * r['throughput'] / 1e9)


def test_deploy_of_a_model_without_a_deploy_form_is_refused():
    targets = [('plain', torch.nn.Sequential(torch.nn.ReLU()), None,
                (8, 8), None)]
    with pytest.raises(BenchmarkError, match='plain has no deploy form'):
        benchmark_models(targets, deploy=True, **TINY)


def test_plot_needs_a_published_top1(tmp_path):
    with pytest.raises(BenchmarkError, match='published_top1'):
        plot_accuracy_throughput([dict(published_top1=None, model='x')],
                                 str(tmp_path / 'x.png'))


def test_task_forms_order():
    assert task_forms(['a.py'], ['b.py'], deploy=True, bf16=True) == [
        ('ours', 'a.py', 'unfused', 'fp32'),
        ('ours', 'a.py', 'deploy', 'fp32'),
        ('ours', 'a.py', 'deploy', 'bf16'),
        ('baseline', 'b.py', 'unfused', 'fp32'),
        ('baseline', 'b.py', 'unfused', 'bf16')]


def test_task_config_sets_the_first_test_score_thr():
    cfg = task_config(osp.join(ROOT, 'configs/demo/maskrcnn_shvit_s1_toy.py'),
                      score_thr=0)
    assert cfg.model.test_cfg.rcnn.score_thr == 0
    with pytest.raises(BenchmarkError, match='has no test score_thr'):
        task_config(osp.join(ROOT, 'configs/imagenet_shvit_s1.py'),
                    score_thr=0)


def test_task_mode_breaks_a_detector_down_against_a_stock_baseline():
    """The whole predict of the toy Mask R-CNN (as trained and deployed)
    alternating with mmdet's own R50 Mask R-CNN, part by part."""
    rows = benchmark_task(
        ['configs/demo/maskrcnn_shvit_s1_toy.py'],
        ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'], deploy=True,
        bf16=True, score_thr=0, shape=[96, 128], threads=1, warmup_secs=0,
        secs=0.5, progress=False)
    assert [(x['role'], x['mode'], x['dtype']) for x in rows] == [
        ('ours', 'unfused', 'fp32'), ('ours', 'deploy', 'fp32'),
        ('ours', 'deploy', 'bf16'), ('baseline', 'unfused', 'fp32'),
        ('baseline', 'unfused', 'bf16')]
    base = rows[-2]
    assert base['model'] == 'mask-rcnn_r50_fpn_1x_coco'
    text = task_table(rows)
    for x in rows:
        assert x['shape'] == [96, 128] and x['iters'] >= 1
        assert x['peak_memory_mb'] > 0 and x['detections'] > 0
        parts = x['parts_ms']
        for part in ('backbone', 'neck', 'rpn_head', 'rpn_head.convs',
                     'roi_head', 'roi_head.bbox RoIAlign',
                     'roi_head.mask head'):
            assert parts[part] > 0, part
        top = sum(v for k, v in parts.items() if '.' not in k)
        assert top <= x['latency_ms'] * 1.001
        assert parts['rpn_head.convs'] <= parts['rpn_head']
        speedup = x['speedup']['mask-rcnn_r50_fpn_1x_coco unfused']
        assert speedup == pytest.approx(base['latency_ms'] / x['latency_ms'])
        assert f'{speedup:.2f}x |' in text
        assert set(x['speedup']) == {'mask-rcnn_r50_fpn_1x_coco unfused',
                                     'mask-rcnn_r50_fpn_1x_coco unfused + '
                                     'bf16'}
    assert '| . convs |' in text and '| other |' in text
    assert '| maskrcnn_shvit_s1_toy | deploy + bf16 | 1 | 96x128 |' in text


def test_task_mode_sizes_inputs_from_the_config():
    from mmhybrid.apis import load_config
    from mmhybrid.apis.task_timing import task_input_size
    det = load_config(osp.join(ROOT, 'configs/maskrcnn_shvit_s4_coco.py'))
    seg = load_config(osp.join(ROOT, 'configs/upernet_shvit_s4_ade20k.py'))
    cls = load_config(osp.join(ROOT, 'configs/imagenet_shvit_s1.py'))
    assert task_input_size(det, 'detection') == (800, 1333)
    assert task_input_size(seg, 'segmentation') == (512, 512)
    assert task_input_size(cls, 'classification') == (224, 224)


def test_task_mode_times_a_batch_of_images():
    """``batch_size`` images per predict: every image gets its prediction,
    and img/s counts them all."""
    from mmhybrid.apis.task_timing import predict_batch
    batch = predict_batch('segmentation', (64, 96), num_images=3)
    assert len(batch['inputs']) == len(batch['data_samples']) == 3
    assert not torch.equal(batch['inputs'][0], batch['inputs'][1])
    with pytest.raises(ValueError, match='at least one image'):
        predict_batch('segmentation', (64, 96), num_images=0)
    rows = benchmark_task(['configs/demo/fpn_shvit_s1_toy.py'], shape=[64, 96],
                          threads=1, warmup_secs=0, secs=0.3, progress=False,
                          batch_size=2, deploy=True, compile='eager')
    assert [r['mode'] for r in rows] == ['unfused', 'deploy',
                                         'deploy + compile']
    for row in rows:
        assert row['batch'] == 2 and row['iters'] >= 1
        assert row['throughput'] == pytest.approx(2000 / row['latency_ms'])
    assert rows[-1]['compiled'].startswith('torch.compile (eager)')
    assert rows[0]['compiled'] is None
    text = task_table(rows)
    assert '| fpn_shvit_s1_toy | unfused | 2 | 64x96 |' in text
    assert '| fpn_shvit_s1_toy | deploy + compile | 2 | 64x96 |' in text
