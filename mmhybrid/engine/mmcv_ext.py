"""Installing and removing :mod:`mmhybrid.engine.mmcv_ext_torchvision`, the
torchvision stand-in for mmcv's compiled ops, in an mmcv without them
(``mmcv-lite``); and recording which of mmcv's compiled ops a run calls
(:func:`record_mmcv_ext_calls`). Importing this module imports no mmcv."""
import collections
import contextlib
import functools
import glob
import importlib.util
import os
import os.path as osp
import shutil

__all__ = ['MMCV_EXT_STAND_IN', 'install_mmcv_ext_stand_in',
           'remove_mmcv_ext_stand_in', 'is_mmcv_ext_stand_in',
           'find_mmcv_dir', 'record_mmcv_ext_calls']

# the stand-in's source file, copied as it is to <mmcv>/_ext.py
MMCV_EXT_STAND_IN = osp.join(osp.dirname(osp.abspath(__file__)),
                             'mmcv_ext_torchvision.py')


def _marker():
    with open(MMCV_EXT_STAND_IN) as f:
        return f.readline().rstrip('\n')


def is_mmcv_ext_stand_in(path):
    """Whether ``path`` is a copy of the stand-in (by its first line, the
    marker; any version of it)."""
    try:
        with open(path, errors='replace') as f:
            return f.readline().rstrip('\n') == _marker()
    except OSError:
        return False


def find_mmcv_dir():
    """The folder of the installed ``mmcv`` package, found without
    importing it (so also where its ``_ext`` is missing)."""
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError('mmcv is not installed in this Python')
    return list(spec.submodule_search_locations)[0]


def _check_mmcv_dir(mmcv_dir):
    if not osp.isfile(osp.join(mmcv_dir, '__init__.py')):
        raise FileNotFoundError(
            f'{mmcv_dir!r} is not the folder of the mmcv package (it has no '
            '__init__.py)')


def _compiled(mmcv_dir):
    return sorted(glob.glob(osp.join(mmcv_dir, '_ext*.so')) +
                  glob.glob(osp.join(mmcv_dir, '_ext*.pyd')))


def install_mmcv_ext_stand_in(mmcv_dir):
    """Copy the stand-in to ``<mmcv_dir>/_ext.py`` and return that path.

    ``mmcv_dir`` is the folder of the ``mmcv`` package. Refused, with the
    reason, where it is not one, where mmcv's own compiled ``_ext`` is
    there (mmcv's ops are the reference and must not be shadowed), or where
    an ``_ext.py`` that is not the stand-in is there. An older copy of the
    stand-in is replaced."""
    _check_mmcv_dir(mmcv_dir)
    compiled = _compiled(mmcv_dir)
    if compiled:
        raise FileExistsError(
            f'mmcv\'s compiled ops are installed ({compiled[0]}): use them, '
            'the torchvision stand-in is only for an mmcv without ops')
    dst = osp.join(mmcv_dir, '_ext.py')
    if osp.exists(dst) and not is_mmcv_ext_stand_in(dst):
        raise FileExistsError(
            f'{dst} exists and is not the mmhybrid stand-in (no marker '
            'line): left as it is')
    shutil.copyfile(MMCV_EXT_STAND_IN, dst)
    return dst


def remove_mmcv_ext_stand_in(mmcv_dir):
    """Remove the stand-in from ``mmcv_dir`` and return the paths removed
    (its ``_ext.py`` and that file's bytecode); none where it is not there.

    Only a file carrying the stand-in's marker line is removed; anything
    else named ``_ext`` (mmcv's compiled ``_ext*.so`` above all) is left
    alone, and an ``_ext.py`` without the marker is refused."""
    _check_mmcv_dir(mmcv_dir)
    path = osp.join(mmcv_dir, '_ext.py')
    if not osp.exists(path):
        return []
    if not is_mmcv_ext_stand_in(path):
        raise FileExistsError(
            f'{path} is not the mmhybrid stand-in (no marker line): not '
            'removed')
    removed = [path]
    os.remove(path)
    for pyc in sorted(glob.glob(osp.join(mmcv_dir, '__pycache__',
                                         '_ext.*.pyc'))):
        os.remove(pyc)
        removed.append(pyc)
    return removed


def _device_of(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if hasattr(a, 'device') and hasattr(a, 'dtype'):
            return a.device.type
    return '-'


@contextlib.contextmanager
def record_mmcv_ext_calls():
    """Within the ``with`` block, count the calls of mmcv's compiled ops.

    Yields a :class:`collections.Counter` of ``(op, device type)``, filled
    as the block runs. Every public function of the loaded ``mmcv._ext``
    (the compiled extension, or the stand-in) is wrapped by a counting
    function for the block and put back afterwards; mmcv's op modules look
    their functions up on that one module object at each call, so every
    call through mmcv.ops is seen."""
    import importlib
    ext = importlib.import_module('mmcv._ext')
    calls = collections.Counter()
    originals = {}

    def counting(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            calls[(name, _device_of(args, kwargs))] += 1
            return fn(*args, **kwargs)
        return wrapper

    for name in dir(ext):
        fn = getattr(ext, name)
        if name.startswith('_') or not callable(fn) or \
                isinstance(fn, type(ext)):
            continue
        originals[name] = fn
    try:
        for name, fn in originals.items():
            setattr(ext, name, counting(name, fn))
        yield calls
    finally:
        for name, fn in originals.items():
            setattr(ext, name, fn)
