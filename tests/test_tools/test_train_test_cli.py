"""tools/train.py and tools/test.py: bad input gets a clear error."""
import os.path as osp
import subprocess
import sys

import pytest

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


@pytest.fixture(scope='module')
def seg_checkpoint(tmp_path_factory):
    import torch

    from mmhybrid.apis import build_model
    model = build_model('configs/demo/fpn_shvit_s1_toy.py')
    ckpt = tmp_path_factory.mktemp('ckpt') / 'fpn.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return str(ckpt)


@pytest.mark.parametrize('kind,why', [
    ('garbage', 'not a valid image file'),
    ('empty', 'the file is empty'),
    ('float32', '32-bit floating point'),
])
def test_unreadable_image_in_the_data_is_named(kind, why, seg_checkpoint,
                                               tmp_path):
    """An image of the dataset that cannot be decoded (corrupt, zero bytes,
    a float TIFF) ends tools/test.py and tools/train.py with a sentence
    naming the file, exit code 1 and no traceback (not a silently skipped
    sample, not OpenCV's assertion without a file name)."""
    import numpy as np
    from PIL import Image

    from mmhybrid.testing.toy import make_toy_ade
    make_toy_ade(str(tmp_path / 'ade'), num_train=2, num_val=2)
    root = tmp_path / 'ade' / 'ADEChallengeData2016'
    for split in ('validation', 'training'):
        bad = sorted((root / 'images' / split).iterdir())[1]
        if kind == 'float32':
            Image.fromarray(np.ones((64, 64), np.float32), mode='F').save(
                bad, format='TIFF')
        else:
            bad.write_bytes(b'not an image at all' if kind == 'garbage'
                            else b'')
    roots = [f'{loader}.dataset.data_root={root}/'
             for loader in ('train_dataloader', 'val_dataloader',
                            'test_dataloader')]
    bad = sorted((root / 'images' / 'validation').iterdir())[1]
    r = _run('tools/test.py', 'configs/demo/fpn_shvit_s1_toy.py',
             seg_checkpoint, '--work-dir', str(tmp_path / 'w'),
             '--cfg-options', *roots)
    assert r.returncode == 1, r.stderr[-3000:]
    assert 'tools/test.py: error: Cannot read image' in r.stderr
    assert str(bad) in r.stderr and why in r.stderr, r.stderr[-3000:]
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    bad = sorted((root / 'images' / 'training').iterdir())[1]
    r = _run('tools/train.py', 'configs/demo/fpn_shvit_s1_toy.py',
             '--work-dir', str(tmp_path / 'w'), '--cfg-options', *roots,
             'train_dataloader.batch_size=2', 'train_cfg.max_iters=2')
    assert r.returncode == 1, r.stderr[-3000:]
    assert 'tools/train.py: error: Cannot read image' in r.stderr
    assert str(bad) in r.stderr and why in r.stderr, r.stderr[-3000:]
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
