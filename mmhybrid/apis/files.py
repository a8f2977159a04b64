"""Writing files so that a failure loses nothing: :func:`save_atomic` (a
converter's ``--force`` never leaves a half-written checkpoint in place of a
good one) and :func:`check_writable` (``--out``/``--work-dir`` refused
before a run, not after it)."""
import os
import os.path as osp

from .errors import OutputPathError


def _existing_ancestor(path):
    """The nearest part of ``path`` (itself included) that exists."""
    path = osp.abspath(path)
    while not osp.lexists(path):
        parent = osp.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_writable(path, what='output', is_dir=False):
    """Refuse, naming ``what`` (e.g. ``'--out'``) and ``path``, when
    ``path`` could not be written: a file in its way, a folder (or the
    folder that would be created for it) without write permission, or a
    read-only file system. ``is_dir``: ``path`` is a folder to create or
    fill; otherwise a file. Nothing is created."""
    target = osp.abspath(path)
    if not is_dir and osp.isdir(target):
        raise OutputPathError(
            f'{what} {path!r} is a folder; give a file path')
    if is_dir and osp.lexists(target) and not osp.isdir(target):
        raise OutputPathError(
            f'{what} {path!r} is not a folder (a file of that name exists)')
    base = _existing_ancestor(target if is_dir else osp.dirname(target))
    if not osp.isdir(base):
        raise OutputPathError(
            f'{what} {path!r} cannot be created: {base!r} is a file, not a '
            'folder')
    # os.access also answers for read-only mounts (EROFS), also for root
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputPathError(
            f'{what} {path!r} cannot be written: no write permission in '
            f'{base!r} (or it is on a read-only file system)')
    if not is_dir and osp.exists(target) and not os.access(target, os.W_OK):
        raise OutputPathError(
            f'{what} {path!r} exists and cannot be overwritten (no write '
            'permission)')
    return path


def save_atomic(obj, path, save=None):
    """Save ``obj`` to ``path`` with ``save(obj, file)`` (default
    ``torch.save``) so that ``path`` is either its old content or the
    complete new one (:func:`mmhybrid.engine.replace_atomically`: an
    unpredictable temporary name in the same folder, synced, renamed; removed
    on any failure). Creates the folder. Returns ``path``."""
    from mmhybrid.engine import replace_atomically
    if save is None:
        import torch
        save = torch.save
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)

    def write(tmp):
        with open(tmp, 'wb') as f:
            save(obj, f)

    replace_atomically(write, path)
    return path
