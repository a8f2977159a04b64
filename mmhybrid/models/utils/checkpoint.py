"""Reading upstream checkpoints and loading them without silent partial loads."""
import os.path as osp

import torch
from mmengine.logging import MMLogger, print_log
from mmengine.runner.checkpoint import CheckpointLoader

_WRAPPER_KEYS = ('state_dict_ema', 'state_dict', 'model', 'model_ema')


def read_state_dict(checkpoint, wrapper_keys=_WRAPPER_KEYS):
    """Read a checkpoint file (or URL) and return its flat state dict.

    The weights may sit at the top level or under one of ``wrapper_keys``
    (the first present wins). A leading ``module.`` (DataParallel) is removed.
    """
    if isinstance(checkpoint, dict):
        ckpt = checkpoint
    else:
        is_url = '://' in str(checkpoint)
        if not is_url and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'Checkpoint file not found: {checkpoint!r} '
                f'(absolute path: {osp.abspath(str(checkpoint))})')
        ckpt = CheckpointLoader.load_checkpoint(checkpoint,
                                                map_location='cpu')
    state_dict = ckpt
    for key in wrapper_keys:
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            state_dict = ckpt[key]
            break
    if not isinstance(state_dict, dict) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(
            f'{checkpoint!r} holds no state dict of tensors (looked at the '
            f'top level and under {list(wrapper_keys)}).')
    if all(k.startswith('module.') for k in state_dict):
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    return state_dict


def load_checked_state_dict(module, state_dict, source='checkpoint',
                            logger='current', allowed_missing=()):
    """Load ``state_dict`` into ``module``; refuse partial loads.

    Raises ``RuntimeError`` listing every key whose shape does not fit and
    every parameter or buffer of ``module`` that the checkpoint lacks (but
    for ``allowed_missing``, which keep their initialisation and are
    reported). Keys of the checkpoint that ``module`` does not have (e.g. a
    classifier head when loading a backbone) are skipped and reported.
    """
    own = module.state_dict()
    allowed_missing = set(allowed_missing)
    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
        for k, v in state_dict.items() if k in own and v.shape != own[k].shape
    ]
    missing = [k for k in own if k not in state_dict
               and not k.endswith('num_batches_tracked')
               and k not in allowed_missing]
    kept = sorted(k for k in allowed_missing
                  if k in own and k not in state_dict)
    problems = []
    if mismatched:
        problems.append('keys whose shapes do not fit:\n  ' +
                        '\n  '.join(mismatched))
    if missing:
        problems.append('keys the model needs but the checkpoint lacks:\n  ' +
                        '\n  '.join(missing))
    if problems:
        raise RuntimeError(
            f'Cannot load {source} into {type(module).__name__} '
            f'(nothing was loaded): ' + '\n'.join(problems) +
            '\nCheck that the checkpoint matches the chosen arch.')
    skipped = sorted(k for k in state_dict if k not in own)
    module.load_state_dict(
        {k: v for k, v in state_dict.items() if k in own}, strict=False)
    if isinstance(logger, str) and logger == 'current':
        logger = MMLogger.get_current_instance()
    msg = (f'Loaded {len(own) - len(kept)} tensors into '
           f'{type(module).__name__} from {source}.')
    if kept:
        msg += f' Not in the checkpoint, kept at their initialisation: ' \
               f'{", ".join(kept)}.' 
    if skipped:
        msg += f' Skipped {len(skipped)} checkpoint keys the model does ' \
               f'not use: {", ".join(skipped)}'
    print_log(msg, logger=logger)
    return skipped


def load_pretrained(module, init_cfg, convert=None, allowed_missing=()):
    """Serve ``init_cfg=dict(type='Pretrained', checkpoint=PATH,
    prefix=None)`` for a backbone: read the file, keep the keys under
    ``prefix``, convert the layout with ``convert(state_dict)`` and load with
    :func:`load_checked_state_dict`."""
    checkpoint = init_cfg.get('checkpoint')
    if checkpoint is None:
        raise ValueError("init_cfg type 'Pretrained' needs a 'checkpoint' "
                         'path')
    state_dict = read_state_dict(checkpoint)
    prefix = init_cfg.get('prefix')
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items()
                      if k.startswith(prefix)}
        if not state_dict:
            raise ValueError(f'{checkpoint!r} has no keys under the prefix '
                             f'{prefix!r}')
    if convert is not None:
        state_dict = convert(state_dict)
    return load_checked_state_dict(module, state_dict, source=str(checkpoint),
                                   allowed_missing=allowed_missing)
