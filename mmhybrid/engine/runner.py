"""The Runner that mmhybrid's own configs choose (``runner_type``).

Importing mmhybrid changes nothing in mmengine: a user's config that only
borrows an mmhybrid backbone runs on mmengine's stock ``Runner``. mmhybrid's
configs name this subclass in their runtime base
(``configs/_base_/default_runtime_{det,seg,cls}.py``), so ``tools/train.py``,
``tools/test.py``, the launchers and the frameworks' own packaged tools
(which honour ``runner_type``) all get its policy:

* **Checked loading.** Checkpoint files are read without running code from
  them (:func:`mmhybrid.models.utils.checkpoint.load_checkpoint_file`).
  Testing, validating and resuming are strict: a checkpoint that does not
  fit the model, or that holds NaN/Inf weights, is refused before anything
  runs (``allow_partial_load=True`` / ``allowed_missing_keys`` in the config
  allow a partial load on purpose). ``load_from`` for training is a
  fine-tune: every tensor that fits is loaded, and one message names the
  tensors that kept their initialisation and why; a checkpoint of another
  model (backbone or neck that do not fit, parts the model lacks) is still
  refused.
* **Resume fallback.** ``resume=True`` with no ``load_from`` resumes from
  ``last_checkpoint``, or, when that names a file that is gone (a run killed
  while it saved), from the newest ``epoch_N.pth``/``iter_N.pth``.
* **CPU DDP.** ``--launcher pytorch`` where mmengine's device detection says
  ``cpu``: the process group uses gloo, DDP gets no device ids, and SyncBN
  layers stay plain BatchNorm. On CUDA, NPU, MLU or MUSA mmengine's own path
  runs unchanged.
"""
import copy
import glob
import logging
import os
import os.path as osp
import re
from datetime import timedelta

import torch
from mmengine.device import get_device
from mmengine.dist import is_distributed
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel

from mmhybrid.registry import register_in

__all__ = ['HybridRunner', 'find_resumable_checkpoint']

_HINT = (
    'Is it a checkpoint of this config? To load it partially on purpose, '
    'pass --allow-partial-load (config: allow_partial_load=True), or name '
    'the keys that may stay at their initialisation in the config\'s '
    'allowed_missing_keys (fnmatch patterns).')


def find_resumable_checkpoint(work_dir):
    """The checkpoint to resume a run in ``work_dir`` from: the one
    ``last_checkpoint`` names, or, when that file is missing, empty or names
    a file that is gone, the newest ``epoch_N.pth``/``iter_N.pth`` of the
    folder (said in a warning); None when there is none."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    last = None
    if osp.isfile(pointer):
        with open(pointer) as f:
            last = f.read().strip() or None
    if last is not None and osp.isfile(last):
        return last
    found = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        m = re.fullmatch(r'(epoch|iter)_(\d+)\.pth', osp.basename(path))
        if m:
            found.append((int(m.group(2)), path))
    if not found:
        print_log(f'No checkpoint to resume from in {work_dir}.',
                  logger='current', level=logging.WARNING)
        return None
    newest = max(found)[1]
    why = f'names {last!r}, which does not exist' if last else \
        'is missing or empty'
    print_log(f'{pointer} {why}; resuming from the newest checkpoint in the '
              f'folder, {newest}.', logger='current', level=logging.WARNING)
    return newest


class HybridRunner(Runner):
    """mmengine's ``Runner`` with checked loading, a resume fallback and
    CPU DDP (see the module docstring). Config::

        runner_type = 'HybridRunner'
    """

    #: what the next ``load_checkpoint`` is for: 'finetune' (``load_from``
    #: in training), 'resume' or 'evaluate' (test, val)
    _load_purpose = 'evaluate'

    # -- loading -----------------------------------------------------------
    def train(self):
        self._load_purpose = 'resume' if self._resume else 'finetune'
        return super().train()

    def val(self):
        self._load_purpose = 'evaluate'
        return super().val()

    def test(self):
        self._load_purpose = 'evaluate'
        return super().test()

    def resume(self, filename, resume_optimizer=True,
               resume_param_scheduler=True, map_location='default'):
        self._load_purpose = 'resume'
        return super().resume(filename, resume_optimizer,
                              resume_param_scheduler, map_location)

    def load_or_resume(self):
        if self._has_loaded:
            return None
        if self._resume and self._load_from is None:
            found = find_resumable_checkpoint(self.work_dir)
            if found is not None:
                self.logger.info(f'Resuming from {found}.')
                self.resume(found)
                self._has_loaded = True
            return None
        return super().load_or_resume()

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=[(r'^module.', '')]):
        """Read ``filename`` safely and load it: strictly for test, val and
        resume (plus refusing NaN/Inf weights when evaluating), as a
        fine-tune for ``load_from`` in training. mmengine's ``strict``
        argument is honoured by the strict path; the fine-tune path is
        chosen by purpose, not by ``strict``."""
        from mmhybrid.models.utils.checkpoint import (load_checkpoint_file,
                                                      load_model_checkpoint)
        location = get_device() if map_location == 'default' else \
            map_location
        checkpoint = load_checkpoint_file(filename, location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) \
            else self.model
        partial = bool(self.cfg.get('allow_partial_load', False))
        if self._load_purpose == 'finetune' and not strict and not partial:
            load_model_checkpoint(model, checkpoint, source=str(filename),
                                  logger=self.logger,
                                  revise_keys=revise_keys, finetune=True)
        else:
            load_model_checkpoint(
                model, checkpoint, source=str(filename), logger=self.logger,
                revise_keys=revise_keys,
                require_finite=self._load_purpose == 'evaluate',
                allowed_missing=self.cfg.get('allowed_missing_keys') or (),
                allow_partial=partial, hint=_HINT)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    # -- CPU DDP -----------------------------------------------------------
    def _cpu_distributed(self):
        return self.distributed and get_device() == 'cpu'

    def setup_env(self, env_cfg):
        if self._cpu_distributed() and self.launcher == 'pytorch' and \
                not is_distributed():
            dist_cfg = dict(env_cfg.get('dist_cfg') or {})
            backend = dist_cfg.pop('backend', 'gloo')
            if backend != 'gloo':
                print_log(f'No accelerator: dist_cfg.backend {backend!r} '
                          'becomes gloo.', logger='current',
                          level=logging.WARNING)
            dist_cfg.pop('init_backend', None)
            if dist_cfg.get('timeout') is not None:
                dist_cfg['timeout'] = timedelta(seconds=dist_cfg['timeout'])
            torch.distributed.init_process_group(
                backend='gloo', rank=int(os.environ['RANK']),
                world_size=int(os.environ['WORLD_SIZE']), **dist_cfg)
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg, model):
        if not self._cpu_distributed() or is_model_wrapper(model):
            return super().wrap_model(model_wrapper_cfg, model)
        model = revert_sync_batchnorm(model.to('cpu'))
        if self.cfg.get('sync_bn', None) is not None:
            self.logger.warning('No accelerator: cfg.sync_bn is ignored, '
                                'SyncBN layers stay plain BatchNorm.')
        wrapper = copy.deepcopy(model_wrapper_cfg) or dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=self.cfg.get('find_unused_parameters',
                                                False))
        wrapper.setdefault('type', 'MMDistributedDataParallel')
        wrapper_cls = MODEL_WRAPPERS.get(wrapper['type'])
        if isinstance(wrapper_cls, type) and issubclass(
                wrapper_cls, DistributedDataParallel):
            wrapper['device_ids'] = None
            wrapper.pop('output_device', None)
        return MODEL_WRAPPERS.build(wrapper, default_args=dict(module=model))


register_in(RUNNERS, HybridRunner)
