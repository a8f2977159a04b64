"""``init_cfg=dict(type='CheckedPretrained', checkpoint=..., prefix=...)``:
mmengine's ``Pretrained`` initialiser, but a checkpoint that does not fit
the module is refused instead of leaving it (partly) random with a warning.

For any backbone that has no checked loader of its own (MMPretrain's
ConvNeXt, mmdet's ResNet, torchvision weights): the checkpoint is read with
:func:`~mmhybrid.models.utils.read_state_dict` (``weights_only``), the keys
under ``prefix`` are kept, and they are loaded with
:func:`~mmhybrid.models.utils.load_checked_state_dict`. Tensors the
checkpoint is known not to have (new layers such as HAM) are named in
``allowed_missing`` (fnmatch patterns) and keep their initialisation.
"""
from mmengine.registry import WEIGHT_INITIALIZERS

from .checkpoint import (CheckpointMismatchError, load_checked_state_dict,
                         read_state_dict)


def _some(keys, limit=4):
    """A few of ``keys`` in their own order (BN counters left out)."""
    keys = [k for k in keys if not k.endswith('num_batches_tracked')]
    more = f', ... ({len(keys)} in all)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def _guess_prefix(expected, found):
    """The prefix that would turn the file's names into the module's, where
    one does (``'backbone.'`` for a detector's file), else None."""
    counts = {}
    for key in expected:
        for name in found:
            if name.endswith('.' + key):
                prefix = name[:-len(key)]
                counts[prefix] = counts.get(prefix, 0) + 1
    return max(counts, key=counts.get) if counts else None


class CheckedPretrainedInit:
    """Load ``checkpoint`` (a path or URL, e.g. ``torchvision://resnet50``)
    into the module, checked.

    Args:
        checkpoint (str): the file or URL.
        prefix (str, optional): keep only the keys under this prefix (e.g.
            ``'backbone.'``), with the prefix removed.
        map_location (str): kept for ``Pretrained`` compatibility; tensors
            are read on the CPU and copied into the module's own devices.
        allowed_missing (list[str]): names or fnmatch patterns of the
            module's tensors that may be absent from the checkpoint.
        min_match (float): the least fraction of the module's tensors that
            must come from the checkpoint, even where ``allowed_missing``
            would allow more to be absent. Default 0.5.

    Raises :class:`~mmhybrid.models.utils.CheckpointMismatchError`, naming
    the file, the prefix and some expected and found keys, when the
    checkpoint does not fit; the module is then left as it was.
    """

    def __init__(self, checkpoint, prefix=None, map_location='cpu',
                 allowed_missing=(), min_match=0.5):
        if not checkpoint:
            raise ValueError("init_cfg type 'CheckedPretrained' needs a "
                             "'checkpoint' path or URL")
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.map_location = map_location
        self.allowed_missing = [allowed_missing] if isinstance(
            allowed_missing, str) else list(allowed_missing)
        self.min_match = min_match

    def _source(self):
        if self.prefix:
            return f'{self.checkpoint!r} (prefix {self.prefix!r})'
        return f'{self.checkpoint!r}'

    def _read(self):
        found = read_state_dict(self.checkpoint)
        if not self.prefix:
            return found, found
        prefix = self.prefix if self.prefix.endswith('.') \
            else self.prefix + '.'
        return found, {k[len(prefix):]: v for k, v in found.items()
                       if k.startswith(prefix)}

    def __call__(self, module):
        found, state_dict = self._read()
        expected = module.state_dict()
        name = type(module).__name__
        if not set(state_dict) & set(expected):
            under = ''
            if self.prefix:
                under = '; under the prefix it has ' + (
                    _some(state_dict) or 'none')
            guess = _guess_prefix(list(expected)[:20], found)
            fix = (f'init_cfg.prefix={guess!r} would match' if guess else
                   'Set init_cfg.prefix to the part before '
                   f'{name}\'s names, or convert the checkpoint first '
                   '(tools/model_converters)')
            raise CheckpointMismatchError(
                f'{self._source()} has no tensor that {name} expects, so '
                f'nothing would be loaded. {name} expects e.g. '
                f'{_some(expected)}; the file has e.g. {_some(found)}'
                f'{under}. {fix}.')
        before = {k: v.detach().clone() for k, v in expected.items()}
        skipped = load_checked_state_dict(
            module, state_dict, source=self._source(),
            allowed_missing=self.allowed_missing,
            hint='Check init_cfg.checkpoint and init_cfg.prefix, or name '
            'the tensors the checkpoint lacks in init_cfg.allowed_missing.')
        used = set(state_dict) - set(skipped)
        if len(used) < self.min_match * len(expected):
            module.load_state_dict(before)
            raise CheckpointMismatchError(
                f'{self._source()} fills only {len(used)} of the '
                f'{len(expected)} tensors of {name} (allowed_missing '
                f'{self.allowed_missing} lets the rest stay random); '
                f'refused (min_match={self.min_match}).')
        self._keep(module, used)
        if hasattr(module, '_params_init_info'):
            from mmengine.model.weight_init import update_init_info
            update_init_info(module, init_info=f'{type(self).__name__}: '
                             f'load from {self.checkpoint}')

    @staticmethod
    def _keep(module, loaded):
        """Mark the submodules whose every tensor came from the checkpoint
        as initialised (mmengine's ``is_init``): ``BaseModule.init_weights``
        runs this initialiser before the children's own ``init_weights``,
        which must not overwrite what was loaded."""
        for prefix, sub in module.named_modules():
            if sub is module or not hasattr(sub, 'is_init'):
                continue
            names = sub.state_dict(prefix=prefix + '.').keys()
            names = [k for k in names
                     if not k.endswith('num_batches_tracked')]
            if names and all(k in loaded for k in names):
                sub.is_init = True


if 'CheckedPretrained' not in WEIGHT_INITIALIZERS.module_dict:
    WEIGHT_INITIALIZERS.register_module(
        name='CheckedPretrained', module=CheckedPretrainedInit)
