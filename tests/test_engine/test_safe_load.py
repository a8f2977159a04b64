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
from tiny_runner import TinyModel, tiny_runner

from mmhybrid.engine.safe_load import (TRUST_ENV, NotACheckpointError,
                                       UntrustedCheckpointError, safe_load,
                                       safe_load_url, trust_checkpoints)

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
    with pytest.warns(UserWarning, match='Fully unpickling'):
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


def test_read_state_dict(evil):
    """What the backbones' ``Pretrained`` init and the converters use."""
    from mmhybrid.models.utils import read_state_dict
    path, marker = evil
    with pytest.raises(UntrustedCheckpointError) as e:
        read_state_dict(path)
    _refused(e, marker)


def _serve(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(directory))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_url(evil, tmp_path, monkeypatch):
    path, marker = evil
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    server = _serve(osp.dirname(path))
    try:
        url = f'http://127.0.0.1:{server.server_port}/evil.pth'
        with pytest.raises(UntrustedCheckpointError) as e:
            safe_load_url(url, map_location='cpu')
    finally:
        server.shutdown()
    _refused(e, marker)
    assert url in str(e.value)


def test_urls_with_one_file_name_do_not_share_a_cache_entry(tmp_path,
                                                            monkeypatch):
    """Two servers both serving ``model.pth``: each URL gets its own
    weights, also when read again from the cache."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    servers, urls = [], []
    for i in (1, 2):
        (tmp_path / f'site{i}').mkdir()
        torch.save({'w': torch.full((2, ), float(i))},
                   tmp_path / f'site{i}' / 'model.pth')
        servers.append(_serve(tmp_path / f'site{i}'))
        urls.append(f'http://127.0.0.1:{servers[-1].server_port}/model.pth')
    try:
        for _ in range(2):  # download, then the cache
            for i, url in enumerate(urls, 1):
                w = safe_load_url(url, progress=False)['w']
                assert torch.equal(w, torch.full((2, ), float(i))), url
    finally:
        for server in servers:
            server.shutdown()
    cached = os.listdir(tmp_path / 'torch_home' / 'hub' / 'checkpoints')
    assert len(cached) == 2 and all(n.endswith('_model.pth')
                                    for n in cached), cached


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


@pytest.mark.parametrize('family', ['auto', 'shvit', 'ga-cswin'])
def test_converters(evil, tmp_path, family):
    path, marker = evil
    r = _tool('tools/model_converters/convert.py', path,
              str(tmp_path / 'out.pth'), '--family', family)
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
    any other use of ``getattr`` (the way to the builtins module, or to a
    method that changes state) is refused."""
    from mmengine.logging.history_buffer import HistoryBuffer
    ok = tmp_path / 'ok.pth'
    torch.save({'m': _Reduces(getattr, (HistoryBuffer, 'min'))}, ok)
    assert safe_load(ok)['m'] is HistoryBuffer.min
    for target in [(HistoryBuffer, '__init__'), (HistoryBuffer, 'update'),
                   (HistoryBuffer, 'statistics'), (argparse.Namespace, 'x'),
                   (np.ndarray, 'tofile')]:
        bad = tmp_path / 'bad.pth'
        torch.save({'m': _Reduces(getattr, target)}, bad)
        with pytest.raises(UntrustedCheckpointError, match='getattr'):
            safe_load(bad)


def test_trust_flag_covers_only_the_command(tmp_path):
    """``--trust-checkpoint`` trusts the files one command was given, while
    it runs: afterwards, in the same process, the same file and any other
    are refused again, also after a command that failed at once. A command
    here is what every tool runs: its parser's ``add_trust_arg``, its work
    inside ``apply_trust_arg`` and ``run_cli``."""
    from mmhybrid.apis import (add_trust_arg, apply_trust_arg,
                               check_predict_inputs, run_cli)
    from mmhybrid.models import SHViT
    trusted_marker = tmp_path / 'TRUSTED'
    path = _malicious(tmp_path / 'legacy.pth', trusted_marker,
                      state_dict=SHViT(arch='s1').state_dict())
    args = add_trust_arg(argparse.ArgumentParser()).parse_args(
        ['--trust-checkpoint'])
    loaded = []
    with apply_trust_arg(args, path):
        with pytest.warns(UserWarning, match='Fully unpickling'):
            assert run_cli(lambda: loaded.append(safe_load(path)),
                           'convert') == 0
    assert 'state_dict' in loaded[0]
    assert trusted_marker.exists()  # the command did unpickle it fully
    assert TRUST_ENV not in os.environ
    trusted_marker.unlink()

    with apply_trust_arg(args, path):  # tools/inference.py's first check
        assert run_cli(lambda: check_predict_inputs(
            str(tmp_path / 'missing.jpg'),
            'configs/demo/maskrcnn_shvit_s1_toy.py', path),
            'tools/inference.py') == 1  # fails at once

    marker = tmp_path / 'PWNED'
    other = _malicious(tmp_path / 'evil.pth', marker)
    for p, m in ((path, trusted_marker), (other, marker)):
        with pytest.raises(UntrustedCheckpointError) as e:
            safe_load(p)
        _refused(e, m)


def test_trust_checkpoints_is_scoped_to_its_paths(tmp_path):
    marker = tmp_path / 'PWNED'
    path = _malicious(tmp_path / 'evil.pth', marker)
    other = _malicious(tmp_path / 'other.pth', tmp_path / 'OTHER')
    with pytest.raises(ValueError):
        with trust_checkpoints([osp.relpath(path)]):
            with pytest.raises(UntrustedCheckpointError):
                safe_load(other)
            with pytest.warns(UserWarning, match='Fully unpickling'):
                safe_load(path)
            raise ValueError('the command fails')
    assert marker.exists() and not (tmp_path / 'OTHER').exists()
    marker.unlink()
    with pytest.raises(UntrustedCheckpointError) as e:
        safe_load(path)
    _refused(e, marker)


@pytest.mark.parametrize('content', [b'', b'model: shvit_s1\nlr: 0.1\n',
                                     b'\x80\x02'])
def test_not_a_checkpoint(tmp_path, content):
    """An empty file, a text file or a cut-off pickle: one clear error that
    names the file, also from a tool (no traceback)."""
    path = tmp_path / 'model.pth'
    path.write_bytes(content)
    with pytest.raises(NotACheckpointError,
                       match=r"model\.pth' is not a PyTorch checkpoint"):
        safe_load(path)
    r = _tool('tools/model_converters/convert.py', str(path),
              str(tmp_path / 'out.pth'))
    assert r.returncode == 1
    assert 'is not a PyTorch checkpoint' in r.stderr
    assert 'Traceback' not in r.stderr, r.stderr[-2000:]


def test_numpy_1_pickles_load(tmp_path):
    """numpy 1.x names its array and scalar rebuilders numpy.core.*."""
    path = tmp_path / 'np1.pth'
    torch.save({'max_accuracy': np.float64(72.8),
                'hist': np.arange(4, dtype=np.float32)}, path,
               _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    assert b'numpy._core.multiarray' in data
    path.write_bytes(data.replace(b'numpy._core.multiarray',
                                  b'numpy.core.multiarray'))
    ckpt = safe_load(path)
    assert type(ckpt['max_accuracy']) is np.float64
    assert ckpt['max_accuracy'] == 72.8
    assert type(ckpt['hist']) is np.ndarray
    np.testing.assert_array_equal(ckpt['hist'], np.arange(4))


def test_runner_checkpoint_round_trip(tmp_path):
    """A checkpoint mmengine's Runner saved (message hub of HistoryBuffers,
    numpy scalars) reads back equal to a full unpickle, and its message hub
    resumes."""
    from mmengine.logging import HistoryBuffer, MessageHub
    tiny_runner(tmp_path / 'work', max_epochs=1).train()
    path = str(tmp_path / 'work' / 'epoch_1.pth')
    full = torch.load(path, weights_only=False)
    ckpt = safe_load(path)
    for k, v in full['state_dict'].items():
        assert torch.equal(ckpt['state_dict'][k], v), k
    hub, full_hub = ckpt['message_hub'], full['message_hub']
    assert hub['runtime_info'] == full_hub['runtime_info']
    assert type(hub['runtime_info']['eta']) is np.float64
    assert hub['log_scalars'].keys() == full_hub['log_scalars'].keys()
    for key, buffer in hub['log_scalars'].items():
        assert type(buffer) is HistoryBuffer, key
        for a, b in zip(buffer.data, full_hub['log_scalars'][key].data):
            np.testing.assert_array_equal(a, b)
    resumed = MessageHub.get_instance('safe_load_round_trip')
    resumed.load_state_dict(hub)
    loss = resumed.get_scalar('train/loss')
    assert loss.mean(2) == full_hub['log_scalars']['train/loss'].mean(2)


def test_empty_namespace_and_dtype_load(tmp_path):
    path = tmp_path / 'args.pth'
    torch.save({'args': argparse.Namespace(), 'dtype': np.dtype('>i2')},
               path)
    ckpt = safe_load(path)
    assert type(ckpt['args']) is argparse.Namespace
    assert vars(ckpt['args']) == {}
    assert ckpt['dtype'] == np.dtype('>i2')
