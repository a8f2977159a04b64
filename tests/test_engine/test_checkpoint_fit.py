"""A checkpoint that does not fit the model fails loudly (load_from,
tools/test.py), partial loads happen only on purpose, and a run killed with
kill -9 resumes."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.nn as nn
from tiny_runner import TinyModel, tiny_runner

from mmhybrid.engine.safe_load import safe_load
from mmhybrid.models.utils import (CheckpointMismatchError,
                                   load_checked_state_dict)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _other_checkpoint(path):
    """A TinyModel whose second Linear has another width, plus a key the
    model does not have."""
    sd = TinyModel().state_dict()
    sd['net.2.weight'] = torch.zeros(1, 5)
    del sd['net.2.bias']
    sd['head.fc.weight'] = torch.zeros(3, 3)
    torch.save({'state_dict': sd, 'meta': {}}, path)
    return str(path)


def test_evaluation_refuses_a_checkpoint_that_does_not_fit(tmp_path):
    """What tools/test.py and val do (the Runner's load outside training)."""
    ckpt = _other_checkpoint(tmp_path / 'other.pth')
    runner = tiny_runner(tmp_path / 'work', max_epochs=1)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as e:
        runner.load_checkpoint(ckpt)
    text = str(e.value)
    assert '1 keys the model needs are missing' in text and \
        'net.2.bias' in text
    assert '1 tensors do not fit' in text and 'net.2.weight' in text
    assert 'head.fc.weight' in text  # unexpected keys are listed too
    assert '--allow-partial-load' in text and 'allowed_missing_keys' in text
    # nothing was loaded
    for k, v in runner.model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_evaluation_refuses_nan_weights(tmp_path):
    sd = TinyModel().state_dict()
    sd['net.0.weight'] = torch.full_like(sd['net.0.weight'], float('nan'))
    torch.save({'state_dict': sd, 'meta': {}}, tmp_path / 'nan.pth')
    runner = tiny_runner(tmp_path / 'work', max_epochs=1)
    with pytest.raises(CheckpointMismatchError, match='NaN or Inf') as e:
        runner.load_checkpoint(str(tmp_path / 'nan.pth'))
    assert 'net.0.weight' in str(e.value)


def test_partial_load_only_on_purpose(tmp_path):
    ckpt = _other_checkpoint(tmp_path / 'other.pth')
    runner = tiny_runner(tmp_path / 'work', max_epochs=1,
                         cfg=dict(allow_partial_load=True))
    runner.load_checkpoint(ckpt)


def test_finetune_loads_what_fits_and_says_so(tmp_path, capsys):
    """load_from in training: another head width (a class count) keeps its
    initialisation, named once; everything else is loaded."""
    src = TinyModel().state_dict()
    src['net.2.weight'] = torch.randn(3, 8)
    src['net.2.bias'] = torch.randn(3)
    torch.save({'state_dict': src, 'meta': {}}, tmp_path / 'c3.pth')
    from mmengine.hooks import Hook

    class Capture(Hook):  # the weights as training starts

        def before_train(self, runner):
            self.state = {k: v.clone()
                          for k, v in runner.model.state_dict().items()}

    capture = Capture()
    runner = tiny_runner(tmp_path / 'work', max_epochs=1,
                         load_from=str(tmp_path / 'c3.pth'),
                         custom_hooks=[capture])
    init = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    now = capture.state
    assert torch.equal(now['net.0.weight'], src['net.0.weight'])
    assert torch.equal(now['net.2.weight'], init['net.2.weight'])
    log = ''.join(p.read_text() for p in (tmp_path / 'work').glob('*/*.log'))
    assert log.count('kept their initialisation') == 1, log
    assert 'net.2.weight: checkpoint [3, 8], model [1, 8]' in log
    assert 'net.2.bias' in log


def test_finetune_refuses_another_model(tmp_path):
    ckpt = _other_checkpoint(tmp_path / 'other.pth')  # holds a 'head' part
    runner = tiny_runner(tmp_path / 'work', max_epochs=1, load_from=ckpt)
    with pytest.raises(CheckpointMismatchError,
                       match='parts this model does not have: head'):
        runner.train()


def test_resume_is_strict(tmp_path):
    tiny_runner(tmp_path, max_epochs=1).train()
    ckpt = safe_load(str(tmp_path / 'epoch_1.pth'))
    ckpt['state_dict']['net.2.weight'] = torch.zeros(1, 5)
    torch.save(ckpt, tmp_path / 'epoch_1.pth')
    with pytest.raises(CheckpointMismatchError, match='net.2.weight'):
        tiny_runner(tmp_path, max_epochs=2, resume=True).train()


def test_allowed_missing_keys_from_the_config(tmp_path):
    sd = TinyModel().state_dict()
    sd.pop('net.2.weight')
    sd.pop('net.2.bias')
    torch.save({'state_dict': sd}, tmp_path / 'no_head.pth')
    runner = tiny_runner(tmp_path / 'work', max_epochs=1,
                         cfg=dict(allowed_missing_keys=['net.2.*']))
    runner.load_checkpoint(str(tmp_path / 'no_head.pth'))
    with pytest.raises(CheckpointMismatchError, match='net.2.bias'):
        tiny_runner(tmp_path / 'work2', max_epochs=1,
                    cfg=dict(allowed_missing_keys=['net.2.weight'])
                    ).load_checkpoint(str(tmp_path / 'no_head.pth'))


def test_checker_sees_versioned_key_upgrades():
    """Keys renamed by a module's own ``_load_from_state_dict`` count as
    present (the check runs the real loading machinery)."""

    class Renamed(nn.Module):

        def __init__(self):
            super().__init__()
            self.new = nn.Linear(2, 2)

        def _load_from_state_dict(self, state_dict, prefix, *args):
            for k in [k for k in state_dict if k.startswith(prefix + 'old.')]:
                state_dict[prefix + 'new.' + k[len(prefix + 'old.'):]] = \
                    state_dict.pop(k)
            super()._load_from_state_dict(state_dict, prefix, *args)

    src = nn.Linear(2, 2).state_dict()
    model = nn.Sequential(Renamed())
    load_checked_state_dict(model, {f'0.old.{k}': v for k, v in src.items()})
    assert torch.equal(model[0].new.weight, src['weight'])


def _toy_coco(tmp_path):
    from mmhybrid.testing.toy import make_toy_coco
    root = tmp_path / 'coco'
    make_toy_coco(str(root), num_train=2, num_val=2)
    return root


def _test_py(tmp_path, root, ckpt, *extra):
    return subprocess.run(
        [sys.executable, 'tools/test.py',
         'configs/demo/maskrcnn_shvit_s1_toy.py', ckpt, '--work-dir',
         str(tmp_path / 'work'), *extra, '--cfg-options',
         f'test_dataloader.dataset.data_root={root}/',
         f'test_evaluator.ann_file={root}/annotations/instances_val2017.json'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_tools_test_py_refuses_a_semantic_fpn_checkpoint(tmp_path):
    """The mistake of the issue: a Semantic-FPN checkpoint given to a Mask
    R-CNN config used to print bbox_mAP 0.0000 and exit 0."""
    from mmhybrid.apis import build_model
    model = build_model('configs/demo/fpn_shvit_s1_toy.py')
    ckpt = str(tmp_path / 'fpn.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    root = _toy_coco(tmp_path)

    r = _test_py(tmp_path, root, ckpt)
    assert r.returncode != 0
    assert 'does not fit MaskRCNN' in r.stderr
    assert 'keys the model needs are missing from the checkpoint' in \
        r.stderr and 'rpn_head.' in r.stderr
    assert 'bbox_mAP' not in r.stdout

    r = _test_py(tmp_path, root, ckpt, '--allow-partial-load')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'bbox_mAP: ' in r.stdout


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path,
                                                        monkeypatch):
    """max_keep_ckpts retires the old checkpoint only once the new one is
    written; a save that dies leaves the old one and no partial file."""
    hook = dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=1)
    runner = tiny_runner(tmp_path, max_epochs=1,
                         default_hooks=dict(checkpoint=hook))
    runner.train()
    assert (tmp_path / 'epoch_1.pth').is_file()

    def dies(*args, **kwargs):
        raise KeyboardInterrupt('killed while saving')

    resumed = tiny_runner(tmp_path, max_epochs=2, resume=True,
                          default_hooks=dict(checkpoint=hook))
    monkeypatch.setattr('mmengine.runner.runner.save_checkpoint', dies)
    with pytest.raises(KeyboardInterrupt):
        resumed.train()
    monkeypatch.undo()
    assert (tmp_path / 'epoch_1.pth').is_file()
    assert not (tmp_path / 'epoch_2.pth').exists()
    # the pointer names a file that is gone: resume falls back to the newest
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_7.pth'))
    again = tiny_runner(tmp_path, max_epochs=2, resume=True,
                        default_hooks=dict(checkpoint=hook))
    again.train()
    assert again.epoch == 2 and (tmp_path / 'epoch_2.pth').is_file()
    assert not (tmp_path / 'epoch_1.pth').exists()  # retired after saving
    assert not list(tmp_path.glob('*.tmp*')) + list(tmp_path.glob('.*.tmp'))


def test_temporaries_of_killed_saves_are_removed_and_symlinks_not_followed(
        tmp_path):
    """A save killed with -9 leaves a temporary file that no code of that
    run can remove: the next run's hook removes those whose process is gone
    (and only those). The temporary name is unpredictable and created
    exclusively, so a symlink planted at the old predictable name
    (``epoch_1.pth.tmp<pid>``) is never written through."""
    hook = dict(type='SafeCheckpointHook', interval=1)
    dead = subprocess.run([sys.executable, '-c', 'import os; '
                           'print(os.getpid())'], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f'.epoch_3.pth.{dead}.x1y2z3.tmp'
    stale.write_bytes(b'\0' * 1024)
    live = tmp_path / f'.epoch_3.pth.{os.getpid()}.a1b2c3.tmp'
    live.write_bytes(b'a save in progress')
    victim = tmp_path / 'victim.txt'
    victim.write_text('keep me')
    (tmp_path / f'epoch_1.pth.tmp{os.getpid()}').symlink_to(victim)
    runner = tiny_runner(tmp_path, max_epochs=1,
                         default_hooks=dict(checkpoint=hook))
    runner.train()
    assert not stale.exists()
    assert live.exists()  # its process still runs: not ours to remove
    assert victim.read_text() == 'keep me'
    assert safe_load(str(tmp_path / 'epoch_1.pth'))['meta']['epoch'] == 1
    assert (tmp_path / 'last_checkpoint').read_text() == \
        str(tmp_path / 'epoch_1.pth')


@pytest.mark.slow
def test_resume_after_kill_9(tmp_path):
    """tools/train.py killed with SIGKILL mid-run; --resume continues from
    the last checkpoint to the end (weights_only load of the run's own
    checkpoint: message hub, optimizer, schedulers)."""
    from mmhybrid.testing import make_toy_folder
    data = tmp_path / 'data'
    make_toy_folder(str(data), num_train_per_class=8, num_test_per_class=2)
    work = tmp_path / 'work'
    max_epochs = 6
    cmd = [sys.executable, 'tools/train.py',
           'configs/demo/hamvit_folder_toy.py', '--work-dir', str(work),
           '--cfg-options', f'train_cfg.max_epochs={max_epochs}',
           f'train_dataloader.dataset.data_root={data}/',
           f'val_dataloader.dataset.data_root={data}/',
           'train_dataloader.batch_size=4', 'custom_hooks=[]']
    env = dict(os.environ, OMP_NUM_THREADS='1', OMP_WAIT_POLICY='PASSIVE')
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True)
    pointer = work / 'last_checkpoint'
    deadline = time.time() + 600
    while not pointer.is_file() and proc.poll() is None and \
            time.time() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'the run ended before the kill'
    last = pointer.read_text().strip()
    done = int(osp.basename(last)[len('epoch_'):-len('.pth')])
    assert done < max_epochs

    r = subprocess.run(cmd + ['--resume'], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    log = next(work.glob('*/*.log'), None)
    logs = ''.join(p.read_text() for p in work.glob('*/*.log'))
    assert log is not None and f'resumed epoch: {done}' in logs
    print(f'killed -9 after epoch {done}; --resume ran to epoch {max_epochs}')
    final = work / f'epoch_{max_epochs}.pth'
    assert final.is_file()
    ckpt = safe_load(str(final))
    assert ckpt['meta']['epoch'] == max_epochs


@pytest.mark.slow
def test_mmdet_train_py_finetunes_and_test_py_refuses(tmp_path):
    """The everyday fine-tune, with mmdet's own packaged tools/train.py: a
    Mask R-CNN checkpoint of 5 classes, load_from for the 3-class toy
    config. Everything that fits loads, the 6 class-count tensors keep their
    initialisation (said once, named); tools/test.py refuses the same file
    for the 3-class config."""
    import mmdet

    from mmhybrid.apis import build_model
    config = 'configs/demo/maskrcnn_shvit_s1_toy.py'
    five = build_model(config, cfg_options={
        'model.roi_head.bbox_head.num_classes': 5,
        'model.roi_head.mask_head.num_classes': 5})
    ckpt = str(tmp_path / 'five_classes.pth')
    torch.save({'state_dict': five.state_dict(),
                'meta': {'dataset_meta': {'classes': list('abcde')}}}, ckpt)
    root = _toy_coco(tmp_path)
    train_py = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools',
                        'train.py')
    assert osp.isfile(train_py), train_py
    work = tmp_path / 'finetune'
    r = subprocess.run(
        [sys.executable, train_py, config, '--work-dir', str(work),
         '--cfg-options', f'load_from={ckpt}', 'train_cfg.max_epochs=1',
         f'train_dataloader.dataset.data_root={root}/',
         'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False', 'val_cfg=None',
         'val_dataloader=None', 'val_evaluator=None'],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    log = ''.join(p.read_text() for p in work.glob('*/*.log'))
    assert log.count('kept their initialisation') == 1
    line = next(l for l in log.splitlines() if 'Fine-tune:' in l)
    print(line)
    assert 'class count 5 \u2192 3: 6 head tensors kept their ' \
        'initialisation' in log, log[-3000:]
    for key in ('roi_head.bbox_head.fc_cls.weight',
                'roi_head.bbox_head.fc_reg.bias',
                'roi_head.mask_head.conv_logits.weight'):
        assert key in log
    assert (work / 'epoch_1.pth').is_file()

    r = _test_py(tmp_path, root, ckpt)
    assert r.returncode != 0
    assert 'does not fit MaskRCNN' in r.stderr and 'fc_cls' in r.stderr
    assert 'bbox_mAP' not in r.stdout
