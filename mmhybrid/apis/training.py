"""What ``tools/train.py`` does to a loaded config before it trains (the
flags of mmdet/mmseg ``tools/train.py``), and the training itself."""
import os

from .checks import check_coco_annotations
from .explain import explain_errors
from .files import check_writable
from .runner import build_runner, check_data_roots

__all__ = ['prepare_training', 'train']


def prepare_training(cfg, amp=False, auto_scale_lr=False, resume=None):
    """Apply the training flags to ``cfg`` and check its data roots, COCO
    files and work dir; returns the checkpoint files the run will load
    (its ``load_from`` and, with ``resume='auto'``, the latest checkpoint
    of the work dir), for ``--trust-checkpoint``.

    ``amp``: automatic mixed precision (a wrapper's policy kept: AGC -> its
    AMP variant); ``auto_scale_lr``: scale the LR by the actual batch size
    (needs ``auto_scale_lr.base_batch_size``); ``resume``: ``'auto'`` (the
    latest checkpoint in the work dir) or a checkpoint file."""
    if amp:
        from mmhybrid.engine import amp_wrapper_type
        cfg.optim_wrapper.type = amp_wrapper_type(
            cfg.optim_wrapper.get('type'))
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise RuntimeError('--auto-scale-lr needs auto_scale_lr.'
                               'base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not os.path.isfile(resume):
            raise FileNotFoundError(
                f'--resume checkpoint not found: {resume!r}')
        cfg.resume = True
        cfg.load_from = resume
    check_data_roots(cfg, 'train_dataloader',
                     *(['val_dataloader'] if cfg.get('val_cfg') else []))
    # the training set's classes too: a set without the config's classes
    # otherwise fails deep in mmengine ("need at least one array to
    # concatenate")
    check_coco_annotations(cfg, 'train_dataloader',
                           *(['val_dataloader'] if cfg.get('val_cfg')
                             else []))
    check_writable(cfg.work_dir, 'the work dir (--work-dir)', is_dir=True)
    trusted = [cfg.get('load_from')]
    if resume == 'auto':
        from mmhybrid.engine import find_resumable_checkpoint
        trusted.append(find_resumable_checkpoint(cfg.work_dir))
    return trusted


def train(cfg):
    """Build the config's Runner and train; a data or config error ends
    with a sentence that names the file or key."""
    runner = build_runner(cfg)
    with explain_errors(cfg, ('train_dataloader', 'val_dataloader')):
        runner.train()
    return runner
