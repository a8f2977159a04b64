"""Reading upstream checkpoints and loading them without silent partial loads."""
import fnmatch
import logging
import os.path as osp
import re
from collections import OrderedDict

import torch
from mmengine.logging import MMLogger, print_log
from mmengine.runner.checkpoint import \
    load_state_dict as mmengine_load_state_dict

_WRAPPER_KEYS = ('state_dict_ema', 'state_dict', 'model', 'model_ema')


def load_checkpoint_file(filename, map_location='cpu'):
    """Read a checkpoint from a local path or an ``http(s)://`` URL without
    running code from it (:func:`mmhybrid.engine.safe_load.safe_load`; URLs
    through torch.hub's cache, :func:`~mmhybrid.engine.safe_load.safe_load_url`).
    Every mmhybrid loading path (``Pretrained`` init, the Runner of
    mmhybrid's configs, tools, converters, the inferencers) reads files
    here; mmengine's own loaders are left as they are."""
    from mmhybrid.engine.safe_load import safe_load, safe_load_url
    filename = str(filename)
    if filename.startswith(('http://', 'https://')):
        return safe_load_url(filename, map_location=map_location)
    if '://' in filename:
        raise ValueError(
            f'Cannot read the checkpoint {filename!r}: mmhybrid reads local '
            'files and http(s) URLs. Download it first.')
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'Checkpoint file not found: {filename!r} '
            f'(absolute path: {osp.abspath(filename)})')
    return safe_load(filename, map_location=map_location)


def read_state_dict(checkpoint, wrapper_keys=_WRAPPER_KEYS):
    """Read a checkpoint file (or URL) and return its flat state dict.

    The weights may sit at the top level or under one of ``wrapper_keys``
    (the first present wins). A leading ``module.`` (DataParallel) is removed.
    """
    ckpt = checkpoint if isinstance(checkpoint, dict) else \
        load_checkpoint_file(checkpoint)
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


# mmengine's load_state_dict logs its own listing of missing/unexpected
# keys; the loaders below say what happened in one message of their own.
_QUIET = logging.getLogger('mmhybrid.checkpoint.quiet')
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def _load_reporting(module, state_dict):
    """Load the tensors of ``state_dict`` whose shapes fit into ``module``
    with mmengine's ``load_state_dict`` (every submodule's versioned
    ``_load_from_state_dict`` applies, so old layouts upgrade themselves)
    and return ``(missing, unexpected, mismatched)``: keys the module kept,
    checkpoint keys it does not have, and ``(key, checkpoint shape, model
    shape)`` of tensors that do not fit (not loaded)."""
    own = module.state_dict()
    mismatched = [(k, tuple(v.shape), tuple(own[k].shape))
                  for k, v in state_dict.items()
                  if k in own and hasattr(v, 'shape')
                  and tuple(v.shape) != tuple(own[k].shape)]
    skip = {k for k, _, _ in mismatched}
    fitting = OrderedDict((k, v) for k, v in state_dict.items()
                          if k not in skip)
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        fitting._metadata = metadata
    seen = {}

    def capture(mod, incompatible):  # the root's hook runs last
        seen['missing'] = list(incompatible.missing_keys)
        seen['unexpected'] = list(incompatible.unexpected_keys)

    handle = module.register_load_state_dict_post_hook(capture)
    try:
        mmengine_load_state_dict(module, fitting, strict=False,
                                 logger=_QUIET)
    finally:
        handle.remove()
    missing = [k for k in seen.get('missing', [])
               if not k.endswith('num_batches_tracked') and k not in skip]
    return missing, seen.get('unexpected', []), mismatched


def _listing(keys, limit=10):
    shown = '\n    '.join(keys[:limit])
    more = f'\n    ... and {len(keys) - limit} more' \
        if len(keys) > limit else ''
    return f'\n    {shown}{more}'


def _shapes(mismatched):
    return [f'{k}: checkpoint {list(a)}, model {list(b)}'
            for k, a, b in mismatched]


def non_finite_tensors(state_dict):
    """Names of the floating-point tensors of ``state_dict`` that hold NaN
    or Inf."""
    return [k for k, v in state_dict.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point()
            and not bool(torch.isfinite(v).all())]


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
    missing, unexpected, mismatched = _load_reporting(module, state_dict)
    kept = [k for k in missing
            if any(fnmatch.fnmatchcase(k, p) for p in patterns)]
    missing = [k for k in missing if k not in kept]
    problems = []
    if missing:
        problems.append(f'{len(missing)} keys the model needs are missing '
                        f'from the checkpoint:' + _listing(missing))
    if mismatched:
        problems.append(f'{len(mismatched)} tensors do not fit:' +
                        _listing(_shapes(mismatched)))
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
    loaded = len(before) - len(missing) - len(kept) - len(mismatched)
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


#: parts of a whole model that a fine-tune must load completely
FINETUNE_WHOLE_PARTS = ('backbone', 'neck')


def _class_counts(model, checkpoint, keys):
    """``(checkpoint classes, model classes)`` where both are known: the
    checkpoint's ``meta['dataset_meta']['classes']`` and the ``num_classes``
    of the heads that own ``keys``."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    classes = ((meta or {}).get('dataset_meta') or {}).get('classes')
    before = len(classes) if classes else None
    modules = dict(model.named_modules())
    now = set()
    for key in keys:
        parts = key.split('.')[:-1]
        for i in range(len(parts), 0, -1):
            owner = modules.get('.'.join(parts[:i]))
            if isinstance(getattr(owner, 'num_classes', None), int):
                now.add(owner.num_classes)
                break
    return before, (now.pop() if len(now) == 1 else None)


def load_finetune_state_dict(model, checkpoint, state_dict, source,
                             logger='current'):
    """``load_from`` for a fine-tune: load every tensor of ``state_dict``
    that fits ``model`` and say once, naming them, which tensors kept their
    initialisation and why (e.g. another class count). A checkpoint of
    another model is still refused (:class:`CheckpointMismatchError`,
    nothing loaded): when the backbone or neck does not fit completely, or
    the checkpoint holds parts the model does not have (a segmentor's
    ``decode_head`` for a detector)."""
    if isinstance(logger, str) and logger == 'current':
        logger = MMLogger.get_current_instance()
    parts = {k.split('.', 1)[0] for k in model.state_dict()}
    foreign = sorted({k.split('.', 1)[0] for k in state_dict} - parts)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    missing, unexpected, mismatched = _load_reporting(model, state_dict)
    whole = [k for k in missing + [m[0] for m in mismatched]
             if k.split('.', 1)[0] in FINETUNE_WHOLE_PARTS]
    if whole or foreign:
        model.load_state_dict(before)
        why = []
        if foreign:
            why.append('it holds parts this model does not have: ' +
                       ', '.join(foreign))
        if whole:
            why.append(f'{len(whole)} backbone/neck tensors do not fit or '
                       'are missing:' + _listing(
                           _shapes([m for m in mismatched if m[0] in whole])
                           + [k for k in missing if k in whole]))
        raise CheckpointMismatchError(
            f'load_from: {source} is not a checkpoint of this model '
            f'({type(model).__name__}; nothing was loaded): ' +
            '; '.join(why) + '\nA fine-tune keeps the backbone and neck of '
            'the checkpoint and re-initialises only head tensors that do '
            'not fit (e.g. another class count).')
    kept = _shapes(mismatched) + [f'{k}: not in the checkpoint'
                                  for k in missing]
    loaded = len(before) - len(kept)
    msg = f'Fine-tune: loaded {loaded} of {len(before)} tensors of ' \
        f'{type(model).__name__} from {source}.'
    if kept:
        was, now = _class_counts(model, checkpoint,
                                 [m[0] for m in mismatched] + missing)
        reason = f'class count {was} \u2192 {now}: ' \
            if was and now and was != now else ''
        msg += (f' {reason}{len(kept)} head tensors kept their '
                'initialisation:' + _listing(kept, limit=len(kept)))
    if unexpected:
        msg += (f'\n  Skipped {len(unexpected)} checkpoint keys the model '
                'does not use:' + _listing(unexpected))
    print_log(msg, logger=logger,
              level=logging.WARNING if kept else logging.INFO)
    return kept


def upgrade_classifier_checkpoint(model, checkpoint):
    """An upstream classifier checkpoint (e.g. the released SHViT ImageNet
    ``.pth``: weights under ``'model'``, official key names) -> an mmengine
    checkpoint (``{'state_dict': ..., 'meta': ...}``) in the key layout of
    ``model``, when ``model`` is an MMPretrain classifier whose backbone's
    ``convert_classifier_checkpoint`` recognises the layout. Anything else
    (our own checkpoints, other models, layouts no family converts) is
    returned unchanged. :func:`load_model_checkpoint` (the Runner of
    mmhybrid's configs, :func:`mmhybrid.apis.get_model`, the tools) goes
    through here."""
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
                          revise_keys=((r'^module\.', ''),), finetune=False,
                          require_finite=False, **kwargs):
    """Load a whole-model checkpoint (a path, URL or an already read dict
    with or without a ``state_dict`` entry) into ``model``. The file is read
    safely (:func:`load_checkpoint_file`); an upstream classifier layout is
    converted (:func:`upgrade_classifier_checkpoint`).

    By default the checkpoint must fit (:func:`load_checked_state_dict`;
    ``kwargs``: ``allow_partial``, ``allowed_missing``, ``logger``,
    ``hint``). ``finetune=True`` loads what fits instead
    (:func:`load_finetune_state_dict`). ``require_finite=True`` (evaluation)
    refuses a checkpoint with NaN or Inf weights, which would print a
    plausible metric. Returns the checkpoint dict."""
    if not isinstance(checkpoint, dict):
        source = source or str(checkpoint)
        checkpoint = load_checkpoint_file(checkpoint, map_location)
    source = source or 'checkpoint'
    state_dict = upgrade_classifier_checkpoint(model, checkpoint)
    state_dict = state_dict.get('state_dict', state_dict)
    if not isinstance(state_dict, dict):
        raise CheckpointMismatchError(f'{source} holds no state_dict')
    metadata = getattr(state_dict, '_metadata', OrderedDict())
    for pattern, repl in revise_keys:
        state_dict = OrderedDict(
            (re.sub(pattern, repl, k), v) for k, v in state_dict.items())
    state_dict._metadata = metadata
    if require_finite:
        bad = non_finite_tensors(state_dict)
        if bad:
            raise CheckpointMismatchError(
                f'{source} holds NaN or Inf weights in {len(bad)} tensors '
                f'(a diverged or corrupted run); evaluating it would print '
                f'a meaningless metric:' + _listing(bad))
    if finetune:
        load_finetune_state_dict(model, checkpoint, state_dict, source,
                                 logger=kwargs.get('logger', 'current'))
    else:
        load_checked_state_dict(model, state_dict, source=source, **kwargs)
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
