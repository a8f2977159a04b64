"""Loading checkpoint files without running code from them.

A ``.pth`` file is a pickle, and unpickling can call any function the file
names. Every checkpoint mmhybrid reads from disk or a URL (a backbone's
``init_cfg=dict(type='Pretrained')``, ``load_from``, ``--resume``,
``tools/test.py``, the converters, the inferencers) goes through
:func:`safe_load` or :func:`safe_load_url`: ``torch.load(weights_only=True)``
with a short allow-list of the non-tensor types real checkpoints hold.

The allow-list is scoped to the load (``torch.serialization.safe_globals``)
and names no real numpy, argparse or mmengine callable. Each allow-listed
name is a stand-in that only records what the file asks for and checks it:
numpy arrays, scalars and dtypes of plain numbers or bools (no fields, no
objects, data length equal to shape times item size), ``argparse.Namespace``
and mmengine's ``HistoryBuffer`` states (no dunder attributes, no change to
``HistoryBuffer``'s class-wide statistics methods). After unpickling, one
pass swaps each stand-in for the real object, rebuilt from copied bytes.
Anything else is refused with :class:`UntrustedCheckpointError`, which names
the file and the rejected global; a file that is no PyTorch checkpoint at
all raises :class:`NotACheckpointError`.

Full unpickling (``weights_only=False``, with a warning) happens only for
files the user vouched for: the files a tool was given together with
``--trust-checkpoint`` (:func:`trust_checkpoints`, for that command only),
or every file while the user's own environment sets
``MMHYBRID_TRUST_CHECKPOINTS=1`` (a process-wide opt-in that no mmhybrid
code sets).
"""
import argparse
import collections
import contextlib
import contextvars
import hashlib
import math
import os
import pathlib
import pickle
import re
import warnings
from urllib.parse import urlparse

import torch

TRUST_ENV = 'MMHYBRID_TRUST_CHECKPOINTS'


class UntrustedCheckpointError(RuntimeError):
    """A checkpoint needs a global that is not on the allow-list, or holds
    an allow-listed type in a form that real checkpoints never have."""


class NotACheckpointError(ValueError):
    """The file is not a PyTorch checkpoint (empty, text, truncated)."""


# --- stand-ins for the allow-listed globals -------------------------------

class _Load:
    """The load in progress: the stand-ins it made and why it was refused
    (torch rewraps the stand-ins' errors in its own message)."""

    def __init__(self):
        self.built = []
        self.reason = None


_LOAD = contextvars.ContextVar('mmhybrid_safe_load', default=None)

# numpy dtype codes of plain numbers and bools, as numpy pickles them
_PLAIN_DTYPES = frozenset(
    ['b1'] + [f'{k}{n}' for k in 'iu' for n in (1, 2, 4, 8)] +
    ['f2', 'f4', 'f8', 'f16', 'c8', 'c16', 'c32'])
_HISTORY_STATS = ('min', 'max', 'mean', 'current')


def _refuse(msg):
    load = _LOAD.get()
    if load is not None and load.reason is None:
        load.reason = msg
    raise pickle.UnpicklingError(msg)


def _register(builder):
    load = _LOAD.get()
    if load is None:
        _refuse(f'{type(builder).__name__} is only made while mmhybrid\'s '
                'safe_load reads a file')
    load.built.append(builder)
    return builder


class _Builder:
    """A record of one allow-listed object the file asks for. It has no
    ``__dict__``, so nothing in the file can give it attributes (such as an
    instance-level ``__setstate__``); its class-level ``__setstate__``
    checks the state."""

    __slots__ = ('value', 'state', 'done')
    what = 'object'

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            _refuse(f'{cls.what} takes no arguments here, got {args!r}')
        self = object.__new__(cls)
        self.value = self.state = None
        self.done = False
        return _register(self)

    def __init__(self, *args, **kwargs):
        pass  # __new__ did the work and the checks

    def __setstate__(self, state):
        if self.done:
            _refuse(f'{self.what} is given its state twice')
        self.done = True
        self._check(state)

    def _check(self, state):
        raise NotImplementedError


class _DtypeBuilder(_Builder):
    """``numpy.dtype(code, align, copy)`` and its state: a plain numeric or
    bool dtype, with a byte order and nothing else."""

    what = 'numpy.dtype'

    @classmethod
    def make(cls, code, align=False, copy=True):
        if not (isinstance(code, str) and code in _PLAIN_DTYPES
                and align is False and copy is True):
            _refuse(f'numpy.dtype({code!r}, {align!r}, {copy!r}) is not a '
                    'plain numeric or bool dtype')
        self = cls()
        import numpy as np
        self.value = np.dtype(code)
        return self

    def _check(self, state):
        # (version, byteorder, subarray, names, fields, elsize, alignment,
        # flags) with the last five unused by plain dtypes
        if not (isinstance(state, tuple) and len(state) == 8
                and state[0] == 3 and state[2:] == (None, None, None, -1, -1,
                                                     0)):
            _refuse(f'numpy.dtype state {state!r} is not that of a plain '
                    'numeric or bool dtype')
        order = state[1]
        if order not in ('<', '>', '=', '|') or (
                order == '|' and self.value.itemsize != 1):
            _refuse(f'numpy.dtype byte order {order!r} is not valid for '
                    f'{self.value}')
        if order in '<>':
            self.value = self.value.newbyteorder(order)


def _dtype_of(obj, where):
    if type(obj) is not _DtypeBuilder:
        _refuse(f'{where} needs a numpy.dtype, got {type(obj).__name__}')
    return obj.value


class _ArrayBuilder(_Builder):
    """``numpy.ndarray`` state ``(version, shape, dtype, is_fortran,
    data)``: the array is rebuilt from a copy of ``data``, which must hold
    exactly ``prod(shape)`` items."""

    what = 'numpy.ndarray'

    def _check(self, state):
        import numpy as np
        if not (isinstance(state, tuple) and len(state) == 5
                and state[0] == 1):
            _refuse(f'numpy.ndarray state of {len(state)} items is not the '
                    'one numpy writes')
        _, shape, dtype, fortran, data = state
        if not (isinstance(shape, tuple) and len(shape) <= 32 and all(
                type(n) is int and n >= 0 for n in shape)):
            _refuse(f'numpy.ndarray shape {shape!r} is not a tuple of sizes')
        dtype = _dtype_of(dtype, 'numpy.ndarray')
        if type(fortran) is not bool or type(data) is not bytes:
            _refuse('numpy.ndarray state holds no plain bytes of data')
        size = math.prod(shape)
        if len(data) != size * dtype.itemsize:
            _refuse(f'numpy.ndarray of shape {shape} and dtype {dtype} '
                    f'needs {size * dtype.itemsize} bytes, the file gives '
                    f'{len(data)}')
        flat = np.frombuffer(data, dtype=dtype) if size else \
            np.empty(0, dtype)
        order = 'F' if fortran else 'C'
        self.value = flat.reshape(shape, order=order).copy(order=order)


class _NdarrayName:
    """Stands for ``numpy.ndarray`` where numpy's pickles name the class
    (as an argument of ``_reconstruct``); it cannot be called or built."""

    def __new__(cls, *args, **kwargs):
        _refuse('numpy.ndarray can only be named in a checkpoint, not '
                'called')


def _reconstruct(cls, shape, typecode):
    """Stands for numpy's ``_reconstruct``: an empty array awaiting its
    state."""
    if cls is not _NdarrayName or shape != (0, ) or typecode not in (b'b',
                                                                     'b'):
        _refuse(f'numpy _reconstruct({cls!r}, {shape!r}, {typecode!r}) is '
                'not a plain numpy array')
    return _ArrayBuilder()


def _scalar(dtype, data):
    """Stands for numpy's ``scalar(dtype, bytes)``: a plain numeric or bool
    scalar, read from a copy of exactly one item's bytes."""
    import numpy as np
    dtype = _dtype_of(dtype, 'numpy scalar')
    if type(data) is not bytes or len(data) != dtype.itemsize:
        _refuse(f'numpy scalar of dtype {dtype} needs {dtype.itemsize} '
                'bytes of data')
    return np.frombuffer(data, dtype=dtype)[0].copy()


class _NamespaceBuilder(_Builder):
    """``argparse.Namespace`` (the training arguments DeiT-style scripts
    save): a dict of attribute names, none of them a dunder."""

    what = 'argparse.Namespace'

    def _check(self, state):
        if not isinstance(state, dict) or not all(
                type(k) is str and not k.startswith('__') for k in state):
            keys = list(state) if isinstance(state, dict) else state
            _refuse(f'argparse.Namespace state {keys!r} is not a dict of '
                    'plain attribute names')
        self.state = state


class _HistoryBufferBuilder(_Builder):
    """mmengine's ``HistoryBuffer`` (the message hub's log scalars): its
    history arrays and ``max_length``. The state's ``statistics_methods``
    may only repeat mmengine's defaults; it is never merged into the class
    (the real ``__setstate__`` would, changing every buffer's statistics in
    the process)."""

    what = 'HistoryBuffer'
    keys = {'max_length', '_log_history', '_count_history'}

    def _check(self, state):
        from mmengine.logging.history_buffer import HistoryBuffer
        if not isinstance(state, dict) or set(state) - {
                'statistics_methods'} != self.keys:
            keys = list(state) if isinstance(state, dict) else state
            _refuse(f'HistoryBuffer state {keys!r} is not mmengine\'s')
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict) or any(
                k not in _HISTORY_STATS or v is not getattr(HistoryBuffer, k)
                for k, v in methods.items()):
            _refuse(f'HistoryBuffer state maps statistics {methods!r}: only '
                    f'mmengine\'s own {_HISTORY_STATS} are accepted')
        if type(state['max_length']) is not int or state['max_length'] < 1:
            _refuse('HistoryBuffer max_length is not a positive int')
        self.state = {k: state[k] for k in self.keys}


def _empty_bytes(*args):
    """Stands for ``bytes``: protocol 2 writes ``b''`` (the data of an empty
    array) as ``bytes()``; nothing else is made."""
    if args:
        _refuse(f'bytes{args!r}: only bytes() is accepted')
    return b''


def _class_method_by_name(owner, name):
    """Stands for ``getattr`` while unpickling. Pickle protocol 2 (what
    ``torch.save`` writes) stores the ``HistoryBuffer.min`` that mmengine's
    message hub holds as ``getattr(HistoryBuffer, 'min')``. Real ``getattr``
    would reach anything, so only the four statistics methods of
    ``HistoryBuffer`` are given out."""
    if owner is _HistoryBufferBuilder and name in _HISTORY_STATS:
        from mmengine.logging.history_buffer import HistoryBuffer
        return getattr(HistoryBuffer, name)
    _refuse(f'Unsupported global: GLOBAL getattr({owner!r}, {name!r}) is '
            f'not one of HistoryBuffer.{"/".join(_HISTORY_STATS)}')


def _allow_list():
    """``(object, pickled name)`` pairs for ``safe_globals``. A name with a
    newline cannot be written by a pickle's GLOBAL, so the array and dtype
    records are reachable only through the stand-ins that make them."""
    pairs = [
        (_NamespaceBuilder, 'argparse.Namespace'),
        (_HistoryBufferBuilder,
         'mmengine.logging.history_buffer.HistoryBuffer'),
        (_class_method_by_name, 'builtins.getattr'),
        (_empty_bytes, 'builtins.bytes'),
        (_NdarrayName, 'numpy.ndarray'),
        (_DtypeBuilder.make, 'numpy.dtype'),
        (_DtypeBuilder, 'mmhybrid\nnumpy dtype record'),
        (_ArrayBuilder, 'mmhybrid\nnumpy array record'),
        # mmengine's param-scheduler states (MultiStepLR milestones)
        (collections.defaultdict, 'collections.defaultdict'),
        (pathlib.PosixPath, 'pathlib.PosixPath'),
        (pathlib.PurePosixPath, 'pathlib.PurePosixPath'),
    ]
    # numpy 1.x pickles name numpy.core, numpy 2.x numpy._core
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        pairs.append((_reconstruct, f'{module}._reconstruct'))
        pairs.append((_scalar, f'{module}.scalar'))
    return pairs


def allowed_globals():
    """The pickled names a checkpoint may use besides torch's own (for
    messages and docs)."""
    return [name for _, name in _allow_list() if '\n' not in name]


def _finish(obj, built):
    """Swap every stand-in in ``obj`` for the real object it checked."""
    if not built:
        return obj
    # a dtype keeps its native byte order and an empty Namespace has no
    # state, but an array or HistoryBuffer without one is no real pickle
    unfinished = [b for b in built if not b.done and type(b) in (
        _ArrayBuilder, _HistoryBufferBuilder)]
    if unfinished:
        _refuse(f'{unfinished[0].what} is never given its state')
    memo = {}
    try:
        return _swap(obj, memo)
    except RecursionError:
        _refuse('the checkpoint is nested too deeply')


def _swap(obj, memo):
    key = id(obj)
    if key in memo:
        return memo[key]
    kind = type(obj)
    if kind in (_ArrayBuilder, _DtypeBuilder):
        memo[key] = obj.value
        return obj.value
    if kind is _NamespaceBuilder:
        ns = memo[key] = argparse.Namespace()
        for name, value in (obj.state or {}).items():
            setattr(ns, name, _swap(value, memo))
        return ns
    if kind is _HistoryBufferBuilder:
        import numpy as np
        from mmengine.logging.history_buffer import HistoryBuffer
        state = {k: _swap(v, memo) for k, v in obj.state.items()}
        logs, counts = state['_log_history'], state['_count_history']
        if not (type(logs) is np.ndarray and type(counts) is np.ndarray
                and logs.ndim == counts.ndim == 1
                and len(logs) == len(counts)):
            _refuse('HistoryBuffer histories are not two 1-d arrays of one '
                    'length')
        buffer = memo[key] = object.__new__(HistoryBuffer)
        buffer.__dict__.update(state)
        return buffer
    if isinstance(obj, dict):
        memo[key] = obj
        for k, v in list(obj.items()):
            if isinstance(k, _Builder):
                _refuse(f'a {k.what} is used as a dict key')
            new = _swap(v, memo)
            if new is not v:
                obj[k] = new
        return obj
    if kind is list:
        memo[key] = obj
        obj[:] = [_swap(v, memo) for v in obj]
        return obj
    if kind is tuple:
        items = tuple(_swap(v, memo) for v in obj)
        memo[key] = obj if all(a is b for a, b in zip(items, obj)) else items
        return memo[key]
    if kind in (set, frozenset) and any(isinstance(v, _Builder) for v in obj):
        _refuse('a numpy object is used as a set element')
    return obj


# --- trust ------------------------------------------------------------------

# real paths (and URLs) the running command was given with --trust-checkpoint
_TRUSTED = contextvars.ContextVar('mmhybrid_trusted_checkpoints',
                                  default=frozenset())


def _key(path):
    path = os.fspath(path)
    return path if '://' in path else os.path.realpath(path)


@contextlib.contextmanager
def trust_checkpoints(paths):
    """Within the block, fully unpickle (with a warning) the checkpoint
    files or URLs in ``paths``; ``None`` entries are skipped. What
    ``--trust-checkpoint`` means: the user vouches for the files this one
    command was given, and for nothing loaded after it returns."""
    keys = {_key(p) for p in paths if p is not None}
    token = _TRUSTED.set(_TRUSTED.get() | keys)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def _env_trusted():
    return os.environ.get(TRUST_ENV, '').strip().lower() in ('1', 'true',
                                                             'yes')


def trusted(f=None):
    """Whether ``f`` (a path or URL; ``None``: just the process-wide
    opt-in) is to be fully unpickled: the user set
    ``MMHYBRID_TRUST_CHECKPOINTS=1``, or ``f`` is in an enclosing
    :func:`trust_checkpoints`."""
    if _env_trusted():
        return True
    if isinstance(f, (str, os.PathLike)):
        return _key(f) in _TRUSTED.get()
    return False


# --- loading ----------------------------------------------------------------

def _name(f):
    return str(f) if isinstance(f, (str, os.PathLike)) else \
        getattr(f, 'name', '<file object>')


def _not_a_checkpoint(f, why):
    return NotACheckpointError(
        f'{_name(f)!r} is not a PyTorch checkpoint ({why}). Give the .pth '
        'file that torch.save wrote.')


def _check_header(f):
    """Refuse an empty or non-pickle file by its first bytes (torch.load
    would end in an unrelated traceback)."""
    if not isinstance(f, (str, os.PathLike)):
        return
    with open(f, 'rb') as fh:
        head = fh.read(4)
    if not head:
        raise _not_a_checkpoint(f, 'the file is empty')
    # a zip archive (torch >= 1.6) or a pickle (the legacy format)
    if head != b'PK\x03\x04' and head[:1] != b'\x80':
        raise _not_a_checkpoint(f, f'it starts with {head!r}')


def _refusal(f, text, reason=None):
    """The error for a refused file: ``reason`` (a stand-in's) or the
    global torch's message names."""
    found = re.findall(r'GLOBAL (\S+) (?:was not|whose)', text)
    if reason is not None:
        what = f'{reason}, which real checkpoints never hold'
    elif found:
        what = (f'it needs the global {found[0]!r}, which is not on '
                'mmhybrid\'s allow-list of harmless checkpoint types')
    else:
        what = 'it holds an object that is not plain weights (torch: ' + \
            text.strip().splitlines()[-1][:300] + ')'
    return UntrustedCheckpointError(
        f'Refusing to load {_name(f)!r}: {what}. Unpickling it could run '
        'code from the file or read memory outside it. If you trust this '
        'file (e.g. a legacy checkpoint you made yourself), pass '
        f'--trust-checkpoint to the tool, or set {TRUST_ENV}=1 for the '
        'whole process.')


def _read(f, load, full):
    """``load(weights_only)`` (a ``torch.load`` of ``f``): fully as the user
    vouched, or checked with the stand-ins; torch's and numpy's errors
    become ours, naming ``f``."""
    if full:
        warnings.warn(
            f'Fully unpickling {_name(f)!r} (weights_only=False) as the user '
            f'asked (--trust-checkpoint or {TRUST_ENV}). This runs any code '
            'the file contains; do it only for files you trust.',
            stacklevel=3)
    state = _Load()
    try:
        if full:
            return load(False)
        token = _LOAD.set(state)
        try:
            with torch.serialization.safe_globals(_allow_list()):
                obj = load(True)
            return _finish(obj, state.built)
        finally:
            _LOAD.reset(token)
    except pickle.UnpicklingError as e:
        if full:
            raise _not_a_checkpoint(f, f'{type(e).__name__}: {e}') from None
        raise _refusal(f, str(e), state.reason) from None
    except (OSError, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001  (torch's and numpy's own)
        raise _not_a_checkpoint(
            f, f'reading it fails with {type(e).__name__}: {e}') from None


def safe_load(f, map_location=None, **kwargs):
    """``torch.load`` of a checkpoint from outside: weights and the
    allow-listed types only, unless the user vouched for ``f``
    (:func:`trusted`).

    ``weights_only`` passed by a caller is ignored: the user's opt-in is the
    only way to unpickle arbitrary objects. Raises
    :class:`UntrustedCheckpointError` (a refused global or object) or
    :class:`NotACheckpointError`, both naming the file.
    """
    kwargs.pop('weights_only', None)
    _check_header(f)
    return _read(f, lambda weights_only: torch.load(
        f, map_location=map_location, weights_only=weights_only, **kwargs),
        trusted(f))


def _cache_name(url, file_name=None):
    """``<hash of the whole URL>_<file name>``: two URLs never share a
    cache entry. The file name is ``file_name`` or the URL's; its
    ``-<hex>.`` part (torch.hub's ``check_hash``) is kept."""
    base = file_name or os.path.basename(urlparse(url).path) or \
        'checkpoint.pth'
    digest = hashlib.sha256(url.encode('utf-8')).hexdigest()[:16]
    return f'{digest}_{os.path.basename(base)}'


def safe_load_url(url, model_dir=None, map_location=None, progress=True,
                  check_hash=False, file_name=None, weights_only=None):
    """``torch.hub.load_state_dict_from_url`` (download once into the hub
    cache, ``model_dir``) read as :func:`safe_load` reads a file; the cache
    file is named by :func:`_cache_name`. The URL is fully unpickled only
    when trusted (:func:`trust_checkpoints` given the URL, or the user's
    ``MMHYBRID_TRUST_CHECKPOINTS=1``; ``weights_only`` is ignored, as in
    :func:`safe_load`). Returns the checkpoint."""
    name = _cache_name(url, file_name)
    return _read(url, lambda weights_only: torch.hub.load_state_dict_from_url(
        url, model_dir=model_dir, map_location=map_location,
        progress=progress, check_hash=check_hash, file_name=name,
        weights_only=weights_only), trusted(url))
