"""Checkpoint files are untrusted pickles: a file that runs a command when
unpickled never runs it on any loading path of mmhybrid, the harmless types
real checkpoints hold still load, and the explicit opt-in works (which also
proves the malicious file really is malicious)."""
import argparse
import collections
import functools
import http.server
import os
import os.path as osp
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from mmengine.runner import load_checkpoint
from tiny_runner import TinyModel, tiny_runner

import mmhybrid  # noqa: F401  (applies the stack fixes)
from mmhybrid.engine.safe_load import (TRUST_ENV, UntrustedCheckpointError,
                                       safe_load)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class _RunsCommand:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def _malicious(path, marker, state_dict=None, legacy=False):
    if state_dict is None:
        state_dict = TinyModel().state_dict()
    torch.save({'state_dict': state_dict, 'meta': {},
                'extra': _RunsCommand(marker)}, path,
               _use_new_zipfile_serialization=not legacy)
    return str(path)


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / 'PWNED'
    return _malicious(tmp_path / 'evil.pth', marker), marker


def _refused(excinfo_or_text, marker):
    text = str(getattr(excinfo_or_text, 'value', excinfo_or_text))
    assert 'posix.system' in text, text[-2000:]
    assert TRUST_ENV in text and '--trust-checkpoint' in text
    assert not marker.exists(), 'the checkpoint ran its command'


@pytest.mark.parametrize('legacy', [False, True])
def test_safe_load_refuses_and_names_the_global(tmp_path, legacy):
    marker = tmp_path / 'PWNED'
    path = _malicious(tmp_path / 'evil.pth', marker, legacy=legacy)
    with pytest.raises(UntrustedCheckpointError) as e:
        safe_load(path)
    _refused(e, marker)


def test_opt_in_unpickles_with_a_warning(evil, monkeypatch):
    path, marker = evil
    monkeypatch.setenv(TRUST_ENV, '1')
    with pytest.warns(UserWarning, match='fully unpickling'):
        safe_load(path)
    assert marker.exists()  # the file really runs code when trusted


def test_backbone_pretrained_init_cfg(evil):
    from mmhybrid.models import SHViT
    path, marker = evil
    model = SHViT(arch='s1', init_cfg=dict(type='Pretrained',
                                           checkpoint=path))
    with pytest.raises(UntrustedCheckpointError) as e:
        model.init_weights()
    _refused(e, marker)


def test_mmengine_load_checkpoint(evil):
    """What mmdet/mmseg/mmpretrain's init_model and inferencers use."""
    path, marker = evil
    with pytest.raises(UntrustedCheckpointError) as e:
        load_checkpoint(TinyModel(), path, map_location='cpu')
    _refused(e, marker)


def test_url(evil, tmp_path, monkeypatch):
    path, marker = evil
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=osp.dirname(path))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f'http://127.0.0.1:{server.server_port}/evil.pth'
        with pytest.raises(UntrustedCheckpointError) as e:
            load_checkpoint(TinyModel(), url, map_location='cpu')
    finally:
        server.shutdown()
    _refused(e, marker)


@pytest.mark.parametrize('resume', [False, True])
def test_runner_load_from_and_resume(evil, tmp_path, resume):
    path, marker = evil
    runner = tiny_runner(tmp_path / 'work', max_epochs=1, load_from=path,
                         resume=resume)
    with pytest.raises(UntrustedCheckpointError) as e:
        runner.train()
    _refused(e, marker)


def _tool(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('converter', ['shvit_to_mmhybrid.py',
                                       'ga_cswin_to_mmhybrid.py'])
def test_converters(evil, tmp_path, converter):
    path, marker = evil
    r = _tool(f'tools/model_converters/{converter}', path,
              str(tmp_path / 'out.pth'))
    assert r.returncode != 0
    _refused(r.stderr, marker)
    assert not (tmp_path / 'out.pth').exists()


def test_tools_test_py(evil, tmp_path):
    """tools/test.py refuses the file before it tests anything."""
    from mmhybrid.testing.toy import make_toy_coco
    root = tmp_path / 'coco'
    make_toy_coco(str(root), num_train=2, num_val=2)
    path, marker = evil
    r = _tool('tools/test.py', 'configs/demo/maskrcnn_shvit_s1_toy.py', path,
              '--work-dir', str(tmp_path / 'work'), '--cfg-options',
              f'test_dataloader.dataset.data_root={root}/',
              f'test_evaluator.ann_file={root}/annotations/'
              'instances_val2017.json')
    assert r.returncode != 0
    _refused(r.stderr, marker)


def test_allow_listed_types_load_without_opt_in(tmp_path):
    """What real checkpoints hold besides tensors: DeiT-style ``args``
    (official SHViT/CSWin), numpy scalars and arrays, Counters."""
    from mmhybrid.models import SHViT
    from mmhybrid.models.utils import read_state_dict
    src = SHViT(arch='s1').state_dict()
    path = tmp_path / 'deit_style.pth'
    torch.save({'model': src, 'epoch': 299,
                'args': argparse.Namespace(model='shvit_s1', lr=1e-3,
                                           output_dir='out'),
                'max_accuracy': np.float64(72.8), 'seen': np.int64(5),
                'hist': np.arange(4, dtype=np.float32),
                'milestones': collections.Counter([8, 11])}, path)
    ckpt = safe_load(path)
    assert ckpt['args'].model == 'shvit_s1'
    assert float(ckpt['max_accuracy']) == 72.8
    assert read_state_dict(str(path)).keys() == src.keys()
    model = SHViT(arch='s1', init_cfg=dict(type='Pretrained',
                                           checkpoint=str(path)))
    model.init_weights()
    for k, v in model.state_dict().items():
        assert torch.equal(v, src[k]), k


class _Reduces:

    def __init__(self, *reduced):
        self.reduced = reduced

    def __reduce__(self):
        return self.reduced


def test_getattr_only_gives_out_methods_of_allow_listed_classes(tmp_path):
    """mmengine's message hub pickles ``getattr(HistoryBuffer, 'min')``;
    any other use of ``getattr`` (the way to the builtins module) is
    refused."""
    from mmengine.logging.history_buffer import HistoryBuffer
    ok = tmp_path / 'ok.pth'
    torch.save({'m': _Reduces(getattr, (HistoryBuffer, 'min'))}, ok)
    assert safe_load(ok)['m'] is HistoryBuffer.min
    for target in [(HistoryBuffer, '__init__'), (argparse.Namespace, 'x'),
                   (np.ndarray, 'tofile')]:
        bad = tmp_path / 'bad.pth'
        torch.save({'m': _Reduces(getattr, target)}, bad)
        with pytest.raises(UntrustedCheckpointError, match='getattr'):
            safe_load(bad)
