"""tools/train.py and tools/test.py: bad input gets a clear error."""
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_missing_config_is_named():
    r = _run('tools/train.py', 'configs/no_such_config.py')
    assert r.returncode != 0
    assert "Config file not found: 'configs/no_such_config.py'" in r.stderr


def test_missing_checkpoint_is_named(tmp_path):
    r = _run('tools/test.py', 'configs/demo/maskrcnn_shvit_s1_toy.py',
             str(tmp_path / 'gone.pth'))
    assert r.returncode != 0
    assert 'Checkpoint not found' in r.stderr and 'gone.pth' in r.stderr


def test_missing_resume_checkpoint_is_named(tmp_path):
    r = _run('tools/train.py', 'configs/demo/fpn_shvit_s1_toy.py',
             '--work-dir', str(tmp_path), '--resume',
             str(tmp_path / 'nope.pth'))
    assert r.returncode != 0 and 'nope.pth' in r.stderr


def test_config_without_task_is_refused(tmp_path):
    cfg = tmp_path / 'bad.py'
    cfg.write_text("model = dict(type='SHViT')\n")
    r = _run('tools/train.py', str(cfg))
    assert r.returncode != 0 and 'Cannot tell the task' in r.stderr
