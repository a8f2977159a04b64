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


def test_missing_data_root_is_named(tmp_path):
    ckpt = tmp_path / 'any.pth'
    ckpt.write_bytes(b'')
    r = _run('tools/test.py', 'configs/demo/fpn_shvit_s1_toy.py', str(ckpt),
             '--cfg-options',
             f'test_dataloader.dataset.data_root={tmp_path}/nowhere/')
    assert r.returncode != 0
    assert 'Data root not found' in r.stderr and 'nowhere' in r.stderr
    assert 'test_dataloader.dataset.data_root' in r.stderr
    r = _run('tools/train.py', 'configs/demo/maskrcnn_shvit_s1_toy.py',
             '--work-dir', str(tmp_path / 'w'), '--cfg-options',
             f'train_dataloader.dataset.data_root={tmp_path}/nowhere/')
    assert r.returncode != 0
    assert 'Data root not found' in r.stderr and 'train_dataloader' in r.stderr


def test_corrupt_image_is_named(tmp_path):
    """A corrupt image in the data makes tools/test.py fail naming the
    file (not a silently skipped sample)."""
    import torch

    from mmhybrid.testing.toy import make_toy_ade
    from mmhybrid.apis import build_model
    make_toy_ade(str(tmp_path / 'ade'), num_train=2, num_val=2)
    root = tmp_path / 'ade' / 'ADEChallengeData2016'
    bad = sorted((root / 'images' / 'validation').iterdir())[0]
    bad.write_bytes(b'not an image at all')
    model = build_model('configs/demo/fpn_shvit_s1_toy.py')
    ckpt = tmp_path / 'fpn.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    r = _run('tools/test.py', 'configs/demo/fpn_shvit_s1_toy.py', str(ckpt),
             '--work-dir', str(tmp_path / 'w'), '--cfg-options',
             f'test_dataloader.dataset.data_root={root}/')
    assert r.returncode != 0
    assert bad.name in r.stderr, r.stderr[-3000:]
