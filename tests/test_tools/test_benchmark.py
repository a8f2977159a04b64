"""The command line tools/analysis_tools/benchmark.py (tiny: SHViT-S1,
64x64, batch 2, 0.2 s windows) prints and writes what it promises; the
library it calls is tested in tests/test_analysis/test_analysis_benchmark.py.
Speed is measured, never asserted."""
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


def test_task_mode_cli(tmp_path):
    """--task times the whole predict and writes its rows."""
    out = tmp_path / 'task.json'
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py',
         'configs/demo/fpn_shvit_s1_toy.py', '--task', '--deploy',
         '--shape', '64', '96', '--threads', '1', '--warmup-secs', '0',
         '--secs', '0.2', '--no-progress', '--out', str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = json.loads(out.read_text())['results']
    assert [(x['mode'], x['shape'], x['batch']) for x in rows] == [
        ('unfused', [64, 96], 1), ('deploy', [64, 96], 1)]
    assert '| fpn_shvit_s1_toy | deploy | 1 | 64x96 |' in r.stdout
    assert '| decode_head |' in r.stdout
    # --batch-size N: N images per predict
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py',
         'configs/demo/fpn_shvit_s1_toy.py', '--task', '--batch-size', '3',
         '--shape', '64', '96', '--threads', '1', '--warmup-secs', '0',
         '--secs', '0.2', '--no-progress'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '| fpn_shvit_s1_toy | unfused | 3 | 64x96 |' in r.stdout


def test_task_mode_flags_are_checked():
    for args, msg in ((['configs/imagenet_shvit_s1.py', '--bf16'],
                       'need --task'),
                      (['--backbone', 'SHViT', '--task'], '--task times'),
                      (['configs/demo/fpn_shvit_s1_toy.py', '--task',
                        '--batch-size', '0'], '--batch-size must be >= 1')):
        r = subprocess.run(
            [sys.executable, 'tools/analysis_tools/benchmark.py', *args],
            cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert r.returncode != 0 and msg in r.stderr


def test_onnx_mode_cli(tmp_path):
    """--onnx exports a segmentor whole and prints a row with both times
    and their ratio (speed measured, never asserted)."""
    import mmdeploy  # noqa: F401 (make install installs it)
    import onnxruntime  # noqa: F401 (make install installs it)
    out = tmp_path / 'onnx.json'
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py',
         'configs/demo/fpn_shvit_s1_toy.py', '--onnx', '--shape', '64', '96',
         '--threads', '1', '--repeats', '2', '--out', str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    [row] = json.loads(out.read_text())['results']
    assert row['shape'] == [64, 96] and row['threads'] == 1
    assert row['torch_ms'] > 0 and row['onnx_ms'] > 0
    assert row['ratio'] == pytest.approx(row['torch_ms'] / row['onnx_ms'])
    line = (f"| fpn_shvit_s1_toy | 64x96 | 1 | - | {row['torch_ms']:.1f} | "
            f"{row['onnx_ms']:.1f} | {row['ratio']:.2f}x |")
    assert line in r.stdout


@pytest.mark.parametrize('args, msg', [
    (['--backbone', 'SHViT', '--onnx'], '--onnx times configs'),
    (['configs/demo/fpn_shvit_s1_toy.py', '--onnx', 'a.onnx', 'b.onnx'],
     'one file per config'),
    (['configs/demo/fpn_shvit_s1_toy.py', '--onnx', '--task'],
     'separate runs'),
    (['--backbone', 'SHViT', '--train'], '--train times configs'),
    (['configs/imagenet_shvit_s1.py', '--train', '--deploy'],
     'does not take --deploy'),
    (['configs/imagenet_shvit_s1.py', '--train', '--amp'], 'trains on a GPU'),
])
def test_mode_flags_are_checked(args, msg):
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py', *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and msg in r.stderr, r.stderr[-2000:]


def test_train_mode_cli(tmp_path):
    """--train times the training step of a config against a baseline and
    writes its rows; the table says how peak memory was measured."""
    out = tmp_path / 'train.json'
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py',
         'configs/imagenet_shvit_s1.py', '--train', '--baseline',
         'configs/imagenet_shvit_s2.py', '--shape', '64', '--batch-size',
         '2', '--threads', '1', '--warmup-secs', '0', '--iters', '1',
         '--no-progress', '--out', str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    ours, base = json.loads(out.read_text())['results']
    assert (ours['model'], base['role']) == ('imagenet_shvit_s1',
                                             'baseline')
    for x in (ours, base):
        assert x['iters'] == 1 and x['batch_size'] == 2
        assert x['shape'] == [64, 64] and x['peak_memory_mb'] > 0
    vs = ours['vs']['imagenet_shvit_s2']
    assert f"| {vs['speed']:.2f}x / {vs['memory']:.2f}x |" in r.stdout
    assert 'vs imagenet_shvit_s2: speed / memory' in r.stdout
    assert 'peak memory: model state' in r.stdout
