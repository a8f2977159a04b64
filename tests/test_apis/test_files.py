"""mmhybrid.apis.files: a failed converter write keeps the old file, and an
output path that cannot be written is refused before any work."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmhybrid.apis import OutputPathError, check_writable, save_atomic

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_save_atomic_writes_and_keeps_permissions(tmp_path):
    dst = tmp_path / 'sub' / 'out.pth'
    save_atomic({'a': torch.ones(2)}, str(dst))
    assert torch.equal(torch.load(dst)['a'], torch.ones(2))
    os.chmod(dst, 0o640)
    save_atomic({'a': torch.zeros(2)}, str(dst))
    assert torch.equal(torch.load(dst)['a'], torch.zeros(2))
    assert os.stat(dst).st_mode & 0o777 == 0o640
    assert os.listdir(dst.parent) == ['out.pth']


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    """A full disk half-way through the new checkpoint: the old one is
    intact and no temporary file is left behind."""
    dst = tmp_path / 'out.pth'
    torch.save({'old': torch.arange(4)}, dst)
    old_bytes = dst.read_bytes()
    real_save = torch.save

    def half_then_fail(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        f.seek(0)
        f.truncate(10)
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(torch, 'save', half_then_fail)
    with pytest.raises(OSError, match='No space left'):
        save_atomic({'new': torch.zeros(1000)}, str(dst))
    assert dst.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ['out.pth']


def test_converter_force_keeps_the_old_output_on_failure(tmp_path):
    """The converters save through save_atomic: a failing write under
    ``--force`` leaves the previous DST as it was."""
    from reference import deterministic_state_dict, manifest
    src = tmp_path / 'shvit_s1.pth'
    torch.save({'model': deterministic_state_dict(manifest('shvit_s1'))},
               src)
    dst = tmp_path / 'dst.pth'
    dst.write_bytes(b'the previous conversion')
    # the converter process fails in torch.save after writing some bytes
    script = (
        'import runpy, sys, torch\n'
        'real = torch.save\n'
        'def fail(obj, f, *a, **k):\n'
        '    f.write(b"partial")\n'
        '    raise OSError(28, "No space left on device")\n'
        'torch.save = fail\n'
        'sys.argv = sys.argv[1:]\n'
        'runpy.run_path(sys.argv[0], run_name="__main__")\n')
    r = subprocess.run(
        [sys.executable, '-c', script,
         osp.join(ROOT, 'tools/model_converters/convert.py'),
         str(src), str(dst), '--force'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and 'No space left' in r.stderr, r.stderr
    assert dst.read_bytes() == b'the previous conversion'
    assert sorted(os.listdir(tmp_path)) == ['dst.pth', 'shvit_s1.pth']


def test_check_writable_refuses_paths_that_cannot_be_written(tmp_path):
    afile = tmp_path / 'file.txt'
    afile.write_text('x')
    with pytest.raises(OutputPathError, match='is a file, not a folder'):
        check_writable(str(afile / 'out.pkl'), '--out')
    with pytest.raises(OutputPathError, match='--work-dir'):
        check_writable(str(afile / 'w'), '--work-dir', is_dir=True)
    with pytest.raises(OutputPathError, match='is not a folder'):
        check_writable(str(afile), '--work-dir', is_dir=True)
    with pytest.raises(OutputPathError, match='is a folder'):
        check_writable(str(tmp_path), '--out')
    # fine: a file in a folder still to be created
    assert check_writable(str(tmp_path / 'a' / 'b' / 'out.pkl'))
    assert not osp.exists(tmp_path / 'a')


def test_tools_test_refuses_out_before_testing(tmp_path):
    """``--out`` under a regular file fails at once, naming the path (it
    used to fail only after the whole test had run)."""
    from mmhybrid.apis import build_model
    from mmhybrid.testing.toy import make_toy_ade
    make_toy_ade(str(tmp_path / 'ade'), num_train=1, num_val=1)
    root = tmp_path / 'ade' / 'ADEChallengeData2016'
    ckpt = tmp_path / 'fpn.pth'
    torch.save({'state_dict': build_model(
        'configs/demo/fpn_shvit_s1_toy.py').state_dict()}, ckpt)
    (tmp_path / 'file.txt').write_text('x')
    out = tmp_path / 'file.txt' / 'out.pkl'
    work = tmp_path / 'work'
    r = subprocess.run(
        [sys.executable, 'tools/test.py', 'configs/demo/fpn_shvit_s1_toy.py',
         str(ckpt), '--work-dir', str(work), '--out', str(out),
         '--cfg-options', f'test_dataloader.dataset.data_root={root}/'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr[-3000:]
    assert r.stderr.strip().splitlines()[-1].startswith(
        'tools/test.py: error: --out'), r.stderr[-3000:]
    assert str(out) in r.stderr and 'Traceback' not in r.stderr
    assert not work.exists()  # refused before the runner was built
