"""Loading checkpoint files without running code from them.

A ``.pth`` file is a pickle, and unpickling can call any function the file
names. Every checkpoint mmhybrid reads from disk or a URL (a backbone's
``init_cfg=dict(type='Pretrained')``, ``load_from``, ``--resume``,
``tools/test.py``, the converters, the inferencers) goes through
:func:`safe_load`: ``torch.load(weights_only=True)`` with a short allow-list
of harmless non-tensor types that real checkpoints hold, named below.

Anything else is refused with :class:`UntrustedCheckpointError`, which names
the rejected global. A user who trusts a legacy file opts in explicitly with
the environment variable ``MMHYBRID_TRUST_CHECKPOINTS=1`` (the tools'
``--trust-checkpoint`` flag sets it); the file is then fully unpickled, with
a warning.
"""
import argparse
import collections
import os
import pathlib
import re
import warnings

import torch

TRUST_ENV = 'MMHYBRID_TRUST_CHECKPOINTS'


class UntrustedCheckpointError(RuntimeError):
    """A checkpoint needs a global that is not on the allow-list."""


_METHOD_OWNERS = ()


def _class_method_by_name(owner, name):
    """Stands in for ``getattr`` while unpickling. Pickle protocol 2 (what
    ``torch.save`` writes) stores a function defined in a class, such as the
    ``HistoryBuffer.min`` that mmengine's message hub holds, as
    ``getattr(HistoryBuffer, 'min')``. Real ``getattr`` would reach anything
    (``getattr.__self__`` is the builtins module), so only a public function
    of an allow-listed class is given out."""
    import pickle
    if owner in _METHOD_OWNERS and not name.startswith('_'):
        for klass in owner.__mro__:
            attr = klass.__dict__.get(name)
            if callable(attr):
                return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'Unsupported global: GLOBAL getattr({owner!r}, {name!r}) is not a '
        'method of an allow-listed class')


def _allowed_globals():
    """``(object, pickled name)`` pairs of the harmless types real
    checkpoints contain."""
    global _METHOD_OWNERS
    import numpy as np
    import numpy.dtypes
    from mmengine.logging.history_buffer import HistoryBuffer

    _METHOD_OWNERS = (HistoryBuffer, )
    multiarray = np._core.multiarray if hasattr(np, '_core') else \
        np.core.multiarray
    pairs = [
        # DeiT/timm-style training scripts store their arguments
        # (official SHViT and CSWin checkpoints)
        (argparse.Namespace, 'argparse.Namespace'),
        # mmengine's param-scheduler states (MultiStepLR milestones)
        (collections.Counter, 'collections.Counter'),
        (collections.defaultdict, 'collections.defaultdict'),
        # mmengine's message hub (log scalars of resumable runs)
        (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
        # ... and its statistics methods, by name only
        (_class_method_by_name, 'builtins.getattr'),
        (np.ndarray, 'numpy.ndarray'),
        (np.dtype, 'numpy.dtype'),
        (pathlib.PosixPath, 'pathlib.PosixPath'),
        (pathlib.PurePosixPath, 'pathlib.PurePosixPath'),
    ]
    # numpy arrays and scalars, pickled by numpy 1.x (numpy.core) or 2.x
    # (numpy._core)
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        pairs.append((multiarray._reconstruct, f'{module}._reconstruct'))
        pairs.append((multiarray.scalar, f'{module}.scalar'))
    for name in numpy.dtypes.__all__:
        pairs.append((getattr(numpy.dtypes, name), f'numpy.dtypes.{name}'))
    return pairs


_ALLOWED = None


def allowed_globals():
    """The allow-listed pickled names (for messages and docs)."""
    return [name for _, name in _allow_list()]


def _allow_list():
    global _ALLOWED
    if _ALLOWED is None:
        _ALLOWED = _allowed_globals()
    return _ALLOWED


def trusted():
    """Whether the user opted in to fully unpickling checkpoint files."""
    return os.environ.get(TRUST_ENV, '').strip().lower() in ('1', 'true',
                                                             'yes')


def _name(f):
    return str(f) if isinstance(f, (str, os.PathLike)) else \
        getattr(f, 'name', '<file object>')


def safe_load_url(url, model_dir=None, map_location=None, progress=True,
                  check_hash=False, file_name=None, **kwargs):
    """``torch.hub.load_state_dict_from_url`` (download once into the hub
    cache), but read with :func:`safe_load`: torch's own version unpickles
    fully by default."""
    from urllib.parse import urlparse

    from torch.hub import HASH_REGEX, download_url_to_file, get_dir
    model_dir = model_dir or os.path.join(get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name or os.path.basename(urlparse(url).path)
    cached = os.path.join(model_dir, filename)
    if not os.path.exists(cached):
        match = HASH_REGEX.search(filename) if check_hash else None
        download_url_to_file(url, cached, match.group(1) if match else None,
                             progress=progress)
    return safe_load(cached, map_location=map_location)


def safe_load(f, map_location=None, **kwargs):
    """``torch.load`` of a checkpoint from outside: weights and the
    allow-listed types only, unless the user opted in (``TRUST_ENV``).

    ``weights_only`` passed by a caller is ignored: the user's opt-in is the
    only way to unpickle arbitrary objects.
    """
    kwargs.pop('weights_only', None)
    if trusted():
        warnings.warn(
            f'{TRUST_ENV} is set: fully unpickling {_name(f)!r} '
            '(weights_only=False). This runs any code the file contains; '
            'do it only for files you trust.', stacklevel=2)
        return torch.load(f, map_location=map_location, weights_only=False,
                          **kwargs)
    try:
        with torch.serialization.safe_globals(_allow_list()):
            return torch.load(f, map_location=map_location,
                              weights_only=True, **kwargs)
    except Exception as e:  # torch raises pickle.UnpicklingError
        if 'Weights only load failed' not in str(e):
            raise
        text = str(e)
        found = re.findall(r'GLOBAL ([\w.]+)', text)
        what = (f'the global {found[0]!r}' if found else
                'an object that is not plain weights')
        detail = [line for line in text.splitlines()
                  if 'GLOBAL' in line or 'Unsupported' in line]
        raise UntrustedCheckpointError(
            f'Refusing to load {_name(f)!r}: it needs {what}, which is not '
            'on mmhybrid\'s allow-list of harmless checkpoint types, and '
            'unpickling it could run code from the file. If you trust this '
            f'file (e.g. a legacy checkpoint you made yourself), set '
            f'{TRUST_ENV}=1 or pass --trust-checkpoint to the tool.' +
            (f'\ntorch: {detail[0]}' if detail else '')) from None
