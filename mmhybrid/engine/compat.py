"""The one place where mmhybrid fixes the OpenMMLab stack's traps on current
torch. :func:`patch_stack` runs when ``mmhybrid`` is imported (every mmhybrid
config imports it through ``custom_imports``), so ``tools/``, user scripts and
``mmengine.Runner`` all get the same behaviour.

1. torch >= 2.6 loads with ``weights_only=True`` by default, which rejects the
   mmengine checkpoints (message hub, numpy scalars) that ``resume`` and
   ``load_from`` read. mmengine's checkpoint loaders get a ``torch`` whose
   ``load`` defaults to ``weights_only=False`` (they read the user's own files);
   an explicit ``weights_only`` is still honoured. Nothing else changes.
2. ``--launcher pytorch`` without a GPU: mmengine calls
   ``torch.cuda.set_device`` and asks for NCCL, and wraps DDP with CUDA
   ``device_ids``. Without CUDA we use gloo, skip the device call, pass
   ``device_ids=None`` and revert SyncBN layers to plain BatchNorm.
"""
import functools
import os
import types

import torch

_PATCHED = False


def cuda_usable():
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


class _TorchWithTrustedLoad(types.ModuleType):
    """``torch`` as seen by mmengine's checkpoint modules."""

    def __init__(self):
        super().__init__('torch')

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def load(*args, **kwargs):
        kwargs.setdefault('weights_only', False)
        return torch.load(*args, **kwargs)


def _patch_checkpoint_loading():
    import mmengine.runner.checkpoint as ckpt_mod
    import mmengine.utils.dl_utils.hub as hub_mod
    proxy = _TorchWithTrustedLoad()
    ckpt_mod.torch = proxy
    hub_mod.torch = proxy


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


def patch_stack():
    """Apply the fixes once (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    _patch_checkpoint_loading()
    _patch_cpu_distributed()
    _PATCHED = True
