"""Reading upstream checkpoints and loading them without silent partial loads."""
import fnmatch
import logging
import os.path as osp
import re
from collections import OrderedDict

import torch
from mmengine.logging import MMLogger, print_log
from mmengine.runner.checkpoint import CheckpointLoader
from torch.nn.modules.module import _IncompatibleKeys

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


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the model it is loaded into."""


def _load_reporting(module, state_dict):
    """Load ``state_dict`` through every submodule's own
    ``_load_from_state_dict`` (so versioned key upgrades apply), as
    ``nn.Module.load_state_dict`` does, and return ``(missing, unexpected,
    errors)`` instead of raising."""
    missing, unexpected, errors = [], [], []
    metadata = getattr(state_dict, '_metadata', None)
    state_dict = OrderedDict(state_dict)
    if metadata is not None:
        state_dict._metadata = metadata

    def load(mod, prefix=''):
        local_metadata = {} if metadata is None else metadata.get(
            prefix[:-1], {})
        mod._load_from_state_dict(state_dict, prefix, local_metadata, True,
                                  missing, unexpected, errors)
        for name, child in mod._modules.items():
            if child is not None:
                load(child, prefix + name + '.')
        for hook in mod._load_state_dict_post_hooks.values():
            hook(mod, _IncompatibleKeys(missing, unexpected))

    with torch.no_grad():
        load(module)
    return missing, unexpected, errors


def _listing(keys, limit=10):
    shown = '\n    '.join(keys[:limit])
    more = f'\n    ... and {len(keys) - limit} more' \
        if len(keys) > limit else ''
    return f'\n    {shown}{more}'


def load_checked_state_dict(module, state_dict, source='checkpoint',
                            logger='current', allowed_missing=(),
                            allow_partial=False,
                            hint='Check that the checkpoint matches the '
                            'chosen arch.'):
    """Load ``state_dict`` into ``module``; refuse a checkpoint that does not
    fit.

    Keys are matched after each submodule's versioned
    ``_load_from_state_dict`` (old layouts upgrade themselves). Raises
    :class:`CheckpointMismatchError`, counting and listing the first
    offending keys, when a parameter or buffer of ``module`` is missing from
    the checkpoint (but for ``allowed_missing``: names or fnmatch patterns,
    which keep their initialisation and are reported) or a shape does not
    fit; the module is then left as it was. ``allow_partial=True`` loads
    what fits and warns instead. Checkpoint keys ``module`` does not have
    (e.g. a classifier head when loading a backbone) are skipped and
    reported. Returns the skipped keys.
    """
    if isinstance(logger, str) and logger == 'current':
        logger = MMLogger.get_current_instance()
    patterns = list(allowed_missing)
    before = {k: v.detach().clone() for k, v in module.state_dict().items()}
    missing, unexpected, errors = _load_reporting(module, state_dict)
    missing = [k for k in missing if not k.endswith('num_batches_tracked')]
    kept = [k for k in missing
            if any(fnmatch.fnmatchcase(k, p) for p in patterns)]
    missing = [k for k in missing if k not in kept]
    problems = []
    if missing:
        problems.append(f'{len(missing)} keys the model needs are missing '
                        f'from the checkpoint:' + _listing(missing))
    if errors:
        problems.append(f'{len(errors)} tensors do not fit:' +
                        _listing([e.replace('\n', ' ') for e in errors]))
    if unexpected and problems:
        problems.append(f'{len(unexpected)} checkpoint keys the model does '
                        'not have:' + _listing(unexpected))
    name = type(module).__name__
    if problems and not allow_partial:
        module.load_state_dict(before)
        raise CheckpointMismatchError(
            f'{source} does not fit {name} (nothing was loaded):\n  ' +
            '\n  '.join(problems) + f'\n{hint}')
    if problems:
        print_log(f'Partial load of {source} into {name} as asked '
                  '(allow_partial_load): ' + '\n  '.join(problems),
                  logger=logger, level=logging.WARNING)
    loaded = len(before) - len(missing) - len(kept) - len(errors)
    msg = (f'Loaded {loaded} tensors into '
           f'{name} from {source}.')
    if kept:
        msg += (' Not in the checkpoint, kept at their initialisation as '
                f'allowed: {", ".join(sorted(kept))}.')
    if unexpected and not problems:
        msg += (f' Skipped {len(unexpected)} checkpoint keys the model does '
                f'not use: {", ".join(sorted(unexpected))}')
    print_log(msg, logger=logger)
    return sorted(unexpected)


def upgrade_classifier_checkpoint(model, checkpoint):
    """An upstream classifier checkpoint (e.g. the released SHViT ImageNet
    ``.pth``: weights under ``'model'``, official key names) -> an mmengine
    checkpoint (``{'state_dict': ..., 'meta': ...}``) in the key layout of
    ``model``, when ``model`` is an MMPretrain classifier whose backbone's
    ``convert_classifier_checkpoint`` recognises the layout. Anything else
    (our own checkpoints, other models, layouts no family converts) is
    returned unchanged. Both :func:`load_model_checkpoint` and mmengine's
    ``load_checkpoint`` (patched in :mod:`mmhybrid.engine.compat`, which
    ``mmpretrain.get_model(..., pretrained=)`` calls) go through here."""
    owners = [m for m in (getattr(model, 'backbone', None),
                          getattr(model, 'head', None))
              if getattr(m, 'convert_classifier_checkpoint', None)]
    if not owners or not isinstance(checkpoint, dict):
        return checkpoint
    from mmpretrain.models.classifiers import ImageClassifier
    if not isinstance(model, ImageClassifier):
        return checkpoint
    flat = checkpoint.get('state_dict', checkpoint)
    if not isinstance(flat, dict) or any(
            k.startswith('backbone.') for k in flat):
        return checkpoint  # already in our layout
    try:
        state_dict = read_state_dict(checkpoint)
    except ValueError:
        return checkpoint
    for owner in owners:
        converted = owner.convert_classifier_checkpoint(state_dict)
        if converted is not None:
            break
    else:
        return checkpoint
    meta = dict(checkpoint['meta']) if isinstance(checkpoint.get('meta'),
                                                  dict) else {}
    meta['converted_by'] = f'{type(owner).__name__}.' \
        'convert_classifier_checkpoint'
    return {'state_dict': OrderedDict(converted), 'meta': meta}


def load_model_checkpoint(model, checkpoint, source=None,
                          map_location='cpu',
                          revise_keys=((r'^module\.', ''),), **kwargs):
    """Load a whole-model checkpoint (a path, URL or an already read dict
    with or without a ``state_dict`` entry) into ``model`` with
    :func:`load_checked_state_dict` (``kwargs``: ``allow_partial``,
    ``allowed_missing``, ``logger``, ``hint``). The file is read safely
    (``weights_only``, see :mod:`mmhybrid.engine.safe_load`). Returns the
    checkpoint dict."""
    if not isinstance(checkpoint, dict):
        source = source or str(checkpoint)
        checkpoint = CheckpointLoader.load_checkpoint(
            checkpoint, map_location=map_location)
    state_dict = upgrade_classifier_checkpoint(model, checkpoint)
    state_dict = state_dict.get('state_dict', state_dict)
    if not isinstance(state_dict, dict):
        raise CheckpointMismatchError(f'{source} holds no state_dict')
    metadata = getattr(state_dict, '_metadata', OrderedDict())
    for pattern, repl in revise_keys:
        state_dict = OrderedDict(
            (re.sub(pattern, repl, k), v) for k, v in state_dict.items())
    state_dict._metadata = metadata
    load_checked_state_dict(model, state_dict, source=source or 'checkpoint',
                            **kwargs)
    return checkpoint


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
