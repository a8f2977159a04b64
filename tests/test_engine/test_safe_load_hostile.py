"""Checkpoints built only from allow-listed names, but hostile: numpy arrays
that hold raw pointers or read outside their data, instance-level
``__setstate__``, a ``HistoryBuffer`` that rewrites mmengine's statistics for
the whole process. Each is refused by name, and nothing crashes (the loads
that could crash run in a subprocess)."""
import argparse
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from mmhybrid.engine.safe_load import UntrustedCheckpointError, safe_load

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MULTIARRAY = np._core.multiarray if hasattr(np, '_core') else \
    np.core.multiarray


class _Reduces:
    """Pickles as ``reduced`` (``(callable, args[, state])``), so a test
    writes exactly the opcodes a hostile file would."""

    def __init__(self, *reduced):
        self.reduced = reduced

    def __reduce__(self):
        return self.reduced


def _array(state):
    return _Reduces(MULTIARRAY._reconstruct, (np.ndarray, (0, ), b'b'),
                    state)


# a structured dtype whose one field is a Python object, its data raw bytes:
# the object pointer is 0x4141...
_OBJECT_FIELD = _Reduces(np.dtype, ('V8', False, True),
                         (3, '|', None, ('a', ), {'a': (np.dtype('O'), 0)},
                          8, 1, 0))
HOSTILE = {
    'object_field': (_array((1, (1, ), _OBJECT_FIELD, False, b'A' * 8)),
                     "numpy.dtype('V8'"),
    'fields_on_f8': (_array((1, (1, ), _Reduces(
        np.dtype, ('f8', False, True),
        (3, '<', None, ('a', ), {'a': (np.dtype('f8'), 0)}, 8, 1, 0)),
        False, b'A' * 8)), 'numpy.dtype state'),
    'object_array': (_array((1, (1, ), np.dtype('O'), False, [1])),
                     "numpy.dtype('O8'"),
    'short_data': (_array((1, (1 << 20, ), np.dtype('f8'), False, b'A' * 8)),
                   'needs 8388608 bytes'),
    'ndarray_called': (_Reduces(np.ndarray, ((4, ), np.dtype('f8'),
                                             b'A' * 8, 0, (-8, ))),
                       'numpy.ndarray can only be named'),
    'scalar_short': (_Reduces(MULTIARRAY.scalar, (np.dtype('f8'), b'AA')),
                     'needs 8 bytes'),
}


def _save(path, obj):
    torch.save({'state_dict': {'w': torch.ones(2)}, 'x': obj}, path)
    return str(path)


def _run(code):
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**__import__('os').environ, 'PYTHONPATH':
                               ROOT})


def test_object_field_array_crashes_a_full_unpickle(tmp_path):
    """The file really is hostile: unpickled fully and printed, it ends
    the process with SIGSEGV."""
    path = _save(tmp_path / 'segv.pth', HOSTILE['object_field'][0])
    r = _run(f'import torch; print(torch.load({path!r}, '
             'weights_only=False))')
    assert r.returncode in (-11, 139), (r.returncode, r.stderr[-2000:])


def test_hostile_numpy_is_refused_without_a_crash(tmp_path):
    paths = {name: _save(tmp_path / f'{name}.pth', obj)
             for name, (obj, _) in HOSTILE.items()}
    code = ('from mmhybrid.engine.safe_load import safe_load\n'
            f'for name, path in {paths!r}.items():\n'
            '    try:\n'
            '        print(name, "LOADED", repr(safe_load(path)))\n'
            '    except Exception as e:\n'
            '        print(name, type(e).__name__, str(e).splitlines()[0])\n')
    r = _run(code)
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    lines = dict(line.split(' ', 1) for line in r.stdout.splitlines()
                 if line.split(' ', 1)[0] in HOSTILE)
    for name, (_, reason) in HOSTILE.items():
        assert lines[name].startswith('UntrustedCheckpointError Refusing '
                                      f'to load {paths[name]!r}'), (
                                          name, lines.get(name))
        assert reason in lines[name], (name, lines[name])


def test_namespace_with_dunder_state_is_refused(tmp_path):
    """An ``argparse.Namespace`` state may not plant ``__setstate__`` (the
    next BUILD on the object would call it)."""
    path = _save(tmp_path / 'ns.pth', _Reduces(
        argparse.Namespace, (), {'__setstate__': HistoryBuffer.mean,
                                 'lr': 0.1}))
    with pytest.raises(UntrustedCheckpointError,
                       match=r"ns\.pth.*argparse\.Namespace state"):
        safe_load(path)


def _buffer_state(**extra):
    return {'max_length': 10, '_log_history': np.array([1., 5.]),
            '_count_history': np.array([1, 1]), **extra}


def test_history_buffer_cannot_rewrite_statistics(tmp_path):
    """mmengine's own ``__setstate__`` merges the file's
    ``statistics_methods`` into the class: with 'mean' mapped to ``max``
    every smoothed loss of the process would be a window maximum."""
    HistoryBuffer()  # the defaults are registered, as in any run
    before = dict(HistoryBuffer._statistics_methods)
    path = _save(tmp_path / 'stats.pth', _Reduces(
        HistoryBuffer, (), _buffer_state(
            statistics_methods={'mean': HistoryBuffer.max})))
    # hostile indeed: a full unpickle changes the class
    r = _run('import torch; from mmengine.logging.history_buffer import '
             f'HistoryBuffer as H; torch.load({path!r}, weights_only=False)'
             "; print(H._statistics_methods['mean'] is H.max)")
    assert r.stdout.strip() == 'True', r.stderr[-2000:]
    with pytest.raises(UntrustedCheckpointError,
                       match=r"stats\.pth.*HistoryBuffer state maps"):
        safe_load(path)
    assert HistoryBuffer._statistics_methods == before


@pytest.mark.parametrize('state', [
    _buffer_state(__setstate__=HistoryBuffer.mean),
    _buffer_state(max_length=-1),
    {'max_length': 10, '_log_history': [1.], '_count_history': [1]},
])
def test_history_buffer_odd_state_is_refused(tmp_path, state):
    path = _save(tmp_path / 'hb.pth', _Reduces(HistoryBuffer, (), state))
    with pytest.raises(UntrustedCheckpointError, match=r'hb\.pth.*History'):
        safe_load(path)


def test_history_buffer_loads_as_mmengine_s_own(tmp_path):
    buffer = HistoryBuffer([1., 2., 6.], [1, 1, 1], max_length=7)
    path = tmp_path / 'hb.pth'
    torch.save({'b': buffer}, path)
    loaded = safe_load(path)['b']
    assert type(loaded) is HistoryBuffer and loaded.max_length == 7
    assert loaded.mean() == 3. and loaded.statistics('max') == 6.
    np.testing.assert_array_equal(loaded.data[0], buffer.data[0])
