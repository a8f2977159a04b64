"""The one place where mmhybrid fixes the OpenMMLab stack's traps on current
torch. :func:`patch_stack` runs when ``mmhybrid`` is imported (every mmhybrid
config imports it through ``custom_imports``), so ``tools/``, user scripts and
``mmengine.Runner`` all get the same behaviour.

1. Checkpoint files are untrusted pickles. mmengine's checkpoint loaders
   (``load_checkpoint``, ``load_from``, ``resume``, URLs, ``Pretrained``
   init) read them with :func:`mmhybrid.engine.safe_load.safe_load`:
   ``weights_only=True`` plus an allow-list of harmless types, so resuming
   mmengine's own checkpoints works and foreign code never runs.
2. ``Runner.load_checkpoint`` refuses a checkpoint that does not fit the
   model (missing keys, shapes that differ) instead of warning and testing a
   half-initialised model; ``allow_partial_load=True`` or
   ``allowed_missing_keys`` in the config allow it on purpose.
3. A run killed while it saves (kill -9) loses nothing: files are written
   under a temporary name and renamed, ``max_keep_ckpts`` retires the old
   checkpoint only after the new one is written, and ``resume`` falls back
   to the newest checkpoint in the work dir when ``last_checkpoint`` names a
   missing file.
4. ``--launcher pytorch`` without a GPU: mmengine calls
   ``torch.cuda.set_device`` and asks for NCCL, and wraps DDP with CUDA
   ``device_ids``. Without CUDA we use gloo, skip the device call, pass
   ``device_ids=None`` and revert SyncBN layers to plain BatchNorm.
5. mmdet's, mmseg's and mmpretrain's inferencers run in one process in any
   order: each builds and predicts in its own default scope and restores the
   caller's.
6. mmengine's ``load_checkpoint`` (what ``mmpretrain.get_model(...,
   pretrained=PATH)`` calls) loads upstream classifier checkpoints (e.g. the
   released SHViT ``.pth``) into mmhybrid classifiers through the family's
   converter (:func:`mmhybrid.models.utils.upgrade_classifier_checkpoint`).
7. MMPretrain's ``ModelHub`` knows mmhybrid's classifiers by name
   (``model-index.yml``; :mod:`mmhybrid.engine.model_index`), registered
   lazily the first time MMPretrain registers its own.
"""
import functools
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import types

import torch

from .safe_load import safe_load, safe_load_url


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Runs ``patch(module)`` right after ``target`` is first imported, then
    leaves ``sys.meta_path``."""

    def __init__(self, target, patch):
        self.target, self.patch = target, patch

    def find_spec(self, fullname, path, target_module=None):
        if fullname != self.target:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_patch(module):
            exec_module(module)
            self.patch(module)

        spec.loader.exec_module = exec_then_patch
        return spec


def patch_after_import(target, patch):
    """``patch(module)`` now if the module ``target`` is imported, else as
    soon as it is (once; importing mmhybrid imports no framework API)."""
    if target in sys.modules:
        patch(sys.modules[target])
    elif not any(isinstance(f, _PatchAfterImport) and f.target == target
                 and f.patch is patch for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchAfterImport(target, patch))

_PATCHED = False


def cuda_usable():
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


class _TorchWithSafeLoad(types.ModuleType):
    """``torch`` as seen by mmengine's checkpoint modules: ``load`` is
    :func:`mmhybrid.engine.safe_load.safe_load`."""

    def __init__(self):
        super().__init__('torch')

    def __getattr__(self, name):
        return getattr(torch, name)

    load = staticmethod(safe_load)


def _patch_checkpoint_loading():
    import mmengine.runner.checkpoint as ckpt_mod
    import mmengine.utils.dl_utils.hub as hub_mod
    proxy = _TorchWithSafeLoad()
    ckpt_mod.torch = proxy
    hub_mod.torch = proxy
    # on current torch, mmengine's load_url is torch.hub's, which unpickles
    # fully unless told otherwise
    ckpt_mod.load_url = safe_load_url
    hub_mod.load_url = safe_load_url


def _patch_checked_runner_load():
    """``Runner.load_checkpoint`` (``load_from``, ``tools/test.py``,
    ``resume``) refuses a checkpoint that does not fit the model."""
    import mmengine.runner.runner as runner_mod
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner
    from mmengine.runner.checkpoint import _load_checkpoint

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=[(r'^module.', '')]):
        from ..models.utils.checkpoint import load_model_checkpoint
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        load_model_checkpoint(
            model, checkpoint, source=str(filename), logger=self.logger,
            revise_keys=revise_keys,
            allowed_missing=self.cfg.get('allowed_missing_keys') or (),
            allow_partial=bool(self.cfg.get('allow_partial_load', False)),
            hint=_RUNNER_HINT)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    Runner.load_checkpoint = load_checkpoint
    runner_mod.find_latest_checkpoint = _find_latest_checkpoint


_RUNNER_HINT = (
    'Is it a checkpoint of this config? To load it partially on purpose, '
    'pass --allow-partial-load (config: allow_partial_load=True), or name '
    'the keys that may stay at their initialisation in the config\'s '
    'allowed_missing_keys (fnmatch patterns).')


def _find_latest_checkpoint(path):
    """mmengine's ``find_latest_checkpoint``, but when ``last_checkpoint``
    is missing, empty or names a file that is gone (a run killed while it
    saved), the newest ``epoch_N.pth`` / ``iter_N.pth`` of ``path``."""
    import glob

    from mmengine.logging import print_log
    pointer = os.path.join(path, 'last_checkpoint')
    last = None
    if os.path.isfile(pointer):
        with open(pointer) as f:
            last = f.read().strip() or None
    if last is not None and os.path.isfile(last):
        return last
    found = []
    for f in glob.glob(os.path.join(path, '*.pth')):
        m = re.fullmatch(r'(epoch|iter)_(\d+)\.pth', os.path.basename(f))
        if m:
            found.append((int(m.group(2)), f))
    if not found:
        print_log(f'No checkpoint to resume from in {path}.',
                  logger='current')
        return None
    newest = max(found)[1]
    why = f'names {last!r}, which does not exist' if last else \
        'is missing or empty'
    print_log(f'{pointer} {why}; resuming from the newest checkpoint in the '
              f'folder, {newest}.', logger='current', level=logging.WARNING)
    return newest


def _patch_crash_safe_saving():
    """Checkpoints survive a run killed while saving (kill -9, OOM, node
    loss): files are written to a temporary name and renamed, and the
    checkpoint that ``max_keep_ckpts`` retires is removed only after the new
    one is on disk."""
    from mmengine.fileio.backends import LocalBackend
    from mmengine.hooks import CheckpointHook

    def put(self, obj, filepath):
        filepath = str(filepath)
        os.makedirs(os.path.dirname(os.path.abspath(filepath)),
                    exist_ok=True)
        tmp = f'{filepath}.tmp{os.getpid()}'
        with open(tmp, 'wb') as f:
            f.write(obj)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)

    LocalBackend.put = put

    original_save = CheckpointHook._save_checkpoint_with_step

    @functools.wraps(original_save)
    def save_then_prune(self, runner, step, meta):
        backend = self.file_backend
        remove = backend.remove
        retired = []
        backend.remove = retired.append
        try:
            original_save(self, runner, step, meta)
        finally:
            del backend.remove
        for path in retired:
            remove(path)

    CheckpointHook._save_checkpoint_with_step = save_then_prune


def _patch_cpu_distributed():
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel
    from mmengine.model.utils import revert_sync_batchnorm
    from mmengine.runner import Runner

    original_init_dist = dist_utils._init_dist_pytorch

    @functools.wraps(original_init_dist)
    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if cuda_usable():
            return original_init_dist(backend, init_backend, **kwargs)
        if backend == 'nccl':
            backend = 'gloo'
        torch.distributed.init_process_group(
            backend=backend,
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **kwargs)

    dist_utils._init_dist_pytorch = _init_dist_pytorch

    original_ddp_init = MMDistributedDataParallel.__init__

    @functools.wraps(original_ddp_init)
    def ddp_init(self, module, detect_anomalous_params=False, **kwargs):
        if not cuda_usable():
            kwargs['device_ids'] = None
            kwargs.pop('output_device', None)
        original_ddp_init(self, module, detect_anomalous_params, **kwargs)

    MMDistributedDataParallel.__init__ = ddp_init

    original_wrap = Runner.wrap_model

    @functools.wraps(original_wrap)
    def wrap_model(self, model_wrapper_cfg, model):
        if not cuda_usable():
            model = revert_sync_batchnorm(model)
            if self.cfg.get('sync_bn', None) is not None:
                self.logger.warning('No CUDA device: ignoring cfg.sync_bn, '
                                    'SyncBN layers stay plain BatchNorm.')
                self.cfg.sync_bn = None
        return original_wrap(self, model_wrapper_cfg, model)

    Runner.wrap_model = wrap_model


def _patch_inferencer_scopes():
    """The inferencers of mmdet, mmseg and mmpretrain work in one process,
    in any order.

    mmengine's ``DefaultScope`` is process-global and every registry build
    is redirected to the registry of the current scope. ``DetInferencer``
    and ``MMSegInferencer`` set it with ``init_default_scope`` and never put
    it back; mmpretrain's inferencers set none and build their test pipeline
    (``TRANSFORMS.build``) in whatever scope is current. So after an mmseg
    inferencer, ``ImageClassificationInferencer`` looks ``ResizeEdge`` up in
    mmseg's registry (``KeyError: 'ResizeEdge is not in the mmseg::transform
    registry'``). Now every inferencer's ``__init__`` and ``__call__`` run in
    its own scope (mmengine-based ones: their ``scope`` argument/attribute;
    mmpretrain's: ``'mmpretrain'``) and the caller's scope is restored
    afterwards. Subclasses defined later (mmpretrain imported after
    mmhybrid, a user's own inferencer) are wrapped when they are created.
    """
    import inspect

    from mmengine.infer import BaseInferencer
    from mmengine.registry import DefaultScope

    def in_scope(fn, scope_of):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def scoped(self, *args, **kwargs):
            scope = scope_of(self, fn.__name__, signature, args, kwargs)
            with DefaultScope.overwrite_default_scope(scope):
                return fn(self, *args, **kwargs)

        scoped._mmhybrid_scoped = True
        return scoped

    def wrap(cls, scope_of):
        for name in ('__init__', '__call__'):
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, '_mmhybrid_scoped', False):
                setattr(cls, name, in_scope(fn, scope_of))

    def wrap_tree(root, scope_of):
        todo = [root]
        while todo:
            cls = todo.pop()
            wrap(cls, scope_of)
            todo += cls.__subclasses__()
        previous = root.__dict__.get('__init_subclass__')

        def init_subclass(cls, **kwargs):
            if previous is not None:
                previous.__func__(cls, **kwargs)
            else:
                super(root, cls).__init_subclass__(**kwargs)
            wrap(cls, scope_of)

        root.__init_subclass__ = classmethod(init_subclass)

    def engine_scope(self, name, signature, args, kwargs):
        if name != '__init__':
            return getattr(self, 'scope', None)
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return None  # the call itself reports the bad arguments
        bound.apply_defaults()
        return bound.arguments.get('scope', kwargs.get('scope'))

    wrap_tree(BaseInferencer, engine_scope)

    def patch_mmpretrain(module):
        wrap_tree(module.BaseInferencer, lambda *_: 'mmpretrain')

    # mmpretrain.apis.base's inferencer is not a subclass of mmengine's
    patch_after_import('mmpretrain.apis.base', patch_mmpretrain)


def _patch_classifier_checkpoint_upgrade():
    import mmengine.runner.checkpoint as ckpt_mod
    load_to_model = ckpt_mod._load_checkpoint_to_model
    if getattr(load_to_model, '_mmhybrid', False):
        return

    @functools.wraps(load_to_model)
    def _load_checkpoint_to_model(model, checkpoint, strict=False,
                                  logger=None,
                                  revise_keys=[(r'^module\.', '')]):
        from ..models.utils.checkpoint import (load_model_checkpoint,
                                               upgrade_classifier_checkpoint)
        upgraded = upgrade_classifier_checkpoint(model, checkpoint)
        if upgraded is checkpoint:
            return load_to_model(model, checkpoint, strict, logger,
                                 revise_keys)
        # converted from an upstream layout: it must fit the whole model
        # (an s4 file for an s1 config is refused, nothing is loaded)
        load_model_checkpoint(
            model, upgraded, source='upstream classifier checkpoint ('
            f'{upgraded["meta"]["converted_by"]})', revise_keys=revise_keys,
            hint='Is it the checkpoint of this arch?')
        return checkpoint

    _load_checkpoint_to_model._mmhybrid = True
    ckpt_mod._load_checkpoint_to_model = _load_checkpoint_to_model


def patch_stack():
    """Apply the fixes once (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    _patch_checkpoint_loading()
    _patch_checked_runner_load()
    _patch_crash_safe_saving()
    _patch_cpu_distributed()
    _patch_inferencer_scopes()
    _patch_classifier_checkpoint_upgrade()
    from .model_index import register_with_mmpretrain
    register_with_mmpretrain()
    _PATCHED = True
