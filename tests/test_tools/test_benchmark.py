"""benchmark.py runs (tiny: SHViT-S1, 64x64, batch 2, 0.2 s windows) and
writes what it promises. Speed is measured, never asserted."""
import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = ['--shape', '64', '--batch-size', '2', '--threads', '1',
        '--warmup-secs', '0.2', '--secs', '0.2', '--no-progress']


def _run(args):
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py', *args, *TINY],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_backbone_fused_and_unfused_json(tmp_path):
    out = tmp_path / 'bench.json'
    stdout = _run(['--backbone', 'SHViT', '--arch', 's1', '--deploy',
                   '--channels-last', '--out', str(out)])
    assert '| SHViT-s1 | deploy |' in stdout
    res = json.loads(out.read_text())['results']
    assert [r['mode'] for r in res] == ['unfused', 'deploy']
    for r in res:
        assert r['throughput'] > 0 and r['latency_ms'] > 0
        assert r['iters'] >= 1
        assert 'peak_memory_mb' in r and r['peak_memory_mb'] > 0
        assert r['channels_last'] is True
        # the model's rate against GEMMs timed in the same windows
        assert r['flops'] > 0
        assert r['gflops_per_s'] == pytest.approx(
            r['flops'] * r['throughput'] / 1e9)
        for kind in ('mm', 'conv1x1'):
            rate = r['gemm'][f'{kind}_gflops_per_s']
            assert rate > 0
            assert r['gemm_fraction'][kind] == pytest.approx(
                r['gflops_per_s'] / rate)
        f = r['gemm_fraction']
        assert f"{f['mm']:.2f} / {f['conv1x1']:.2f} |" in stdout
    assert 'of GEMM (mm / 1x1 conv)' in stdout


def test_compare_timm_prints_ratio(tmp_path):
    pytest.importorskip('timm')
    out = tmp_path / 'bench.json'
    stdout = _run(['--backbone', 'SHViT', '--arch', 's1', '--deploy',
                   '--dtype', 'bf16', '--compare-timm', '--out', str(out)])
    assert 'ours/timm' in stdout
    res = json.loads(out.read_text())['results']
    for r in res:
        assert r['timm']['model'] == 'shvit_s1'
        assert r['ratio_vs_timm'] > 0
        # alternated every iteration: both ran equally often in the window
        assert r['iters'] == r['timm']['iters'] >= 1
        assert f"{r['ratio_vs_timm']:.2f}x" in stdout


def test_plot_two_configs(tmp_path):
    pytest.importorskip('matplotlib')
    png, out = tmp_path / 'acc.png', tmp_path / 'bench.json'
    _run(['configs/imagenet_shvit_s1.py', 'configs/imagenet_shvit_s2.py',
          '--out', str(out), '--plot', str(png)])
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    res = json.loads(out.read_text())['results']
    assert {r['model'] for r in res} == {'imagenet_shvit_s1',
                                         'imagenet_shvit_s2'}
    assert all(r['published_top1'] is not None for r in res)
    png2 = tmp_path / 'again.png'  # redrawn from the JSON, no timing
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py', '--replot',
         str(out), '--plot', str(png2)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert png2.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert '| imagenet_shvit_s2 | unfused |' in r.stdout


def test_task_mode_breaks_a_detector_down_against_a_stock_baseline(tmp_path):
    """The whole predict of the toy Mask R-CNN (as trained and deployed)
    alternating with mmdet's own R50 Mask R-CNN, part by part."""
    out = tmp_path / 'task.json'
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py',
         'configs/demo/maskrcnn_shvit_s1_toy.py', '--task', '--deploy',
         '--bf16',
         '--baseline', 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
         '--score-thr', '0', '--shape', '96', '128', '--threads', '1',
         '--warmup-secs', '0', '--secs', '0.5', '--no-progress',
         '--out', str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = json.loads(out.read_text())['results']
    assert [(x['role'], x['mode'], x['dtype']) for x in rows] == [
        ('ours', 'unfused', 'fp32'), ('ours', 'deploy', 'fp32'),
        ('ours', 'deploy', 'bf16'), ('baseline', 'unfused', 'fp32'),
        ('baseline', 'unfused', 'bf16')]
    base = rows[-2]
    assert base['model'] == 'mask-rcnn_r50_fpn_1x_coco'
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
        assert f'{speedup:.2f}x |' in r.stdout
        assert set(x['speedup']) == {'mask-rcnn_r50_fpn_1x_coco unfused',
                                     'mask-rcnn_r50_fpn_1x_coco unfused + '
                                     'bf16'}
    assert '| . convs |' in r.stdout and '| other |' in r.stdout
    assert '| maskrcnn_shvit_s1_toy | deploy + bf16 | 96x128 |' in r.stdout


def test_task_mode_sizes_inputs_from_the_config():
    from mmhybrid.apis import load_config
    from mmhybrid.apis.task_timing import task_input_size
    det = load_config(osp.join(ROOT, 'configs/maskrcnn_shvit_s4_coco.py'))
    seg = load_config(osp.join(ROOT, 'configs/upernet_shvit_s4_ade20k.py'))
    cls = load_config(osp.join(ROOT, 'configs/imagenet_shvit_s1.py'))
    assert task_input_size(det, 'detection') == (800, 1333)
    assert task_input_size(seg, 'segmentation') == (512, 512)
    assert task_input_size(cls, 'classification') == (224, 224)


def test_task_mode_flags_are_checked():
    for args, msg in ((['configs/imagenet_shvit_s1.py', '--bf16'],
                       'need --task'),
                      (['--backbone', 'SHViT', '--task'], '--task times')):
        r = subprocess.run(
            [sys.executable, 'tools/analysis_tools/benchmark.py', *args],
            cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert r.returncode != 0 and msg in r.stderr
