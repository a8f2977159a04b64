"""Converting an upstream classifier checkpoint into mmhybrid's layout with
the converter its family declares in its model file
(``classifier_converters``; found through the registry, see
:func:`mmhybrid.models.utils.classifier_converters`).
``tools/model_converters/convert.py`` is the command line over it."""
import os.path as osp

from mmhybrid.models.utils.checkpoint import CheckpointMismatchError

from .errors import OutputPathError
from .files import save_atomic

__all__ = ['CheckpointLayoutError', 'checkpoint_families',
           'convert_classifier_state_dict', 'convert_checkpoint']


class CheckpointLayoutError(CheckpointMismatchError, ValueError):
    """A checkpoint that no (or not the asked) family's converter reads."""


class _DestinationExists(OutputPathError, FileExistsError):
    """The converted checkpoint would overwrite a file."""


def _converters():
    from mmhybrid.models.utils import classifier_converters
    return classifier_converters()


def checkpoint_families():
    """The ``--family`` names of every registered classifier converter
    (lower case, e.g. ``'shvit'``)."""
    return list(_converters())


def convert_classifier_state_dict(state_dict, family='auto'):
    """Convert an upstream classifier ``state_dict``.

    Args:
        state_dict (dict): a flat state dict (as
            :func:`mmhybrid.models.utils.read_state_dict` returns).
        family (str): a name of :func:`checkpoint_families`, or ``'auto'``:
            the one family whose converter recognises the layout.

    Returns:
        tuple: ``(converted, converter, layout)``: the state dict of
        mmhybrid's MMPretrain classifier, the
        :class:`~mmhybrid.models.utils.ClassifierConverter` used and the
        upstream layout it found (e.g. ``'timm'``).

    Raises:
        CheckpointLayoutError: a ``ValueError`` naming the family and what it expects, when the state
        dict is not an upstream classifier of it (or of any family, for
        ``'auto'``), or is already in mmhybrid's layout.
    """
    converters = _converters()
    if family != 'auto':
        name = family.lower()
        if name not in converters:
            raise CheckpointLayoutError(
                f'no checkpoint converter for family {family!r}; known: '
                f'{", ".join(converters)}')
        candidates = [converters[name]]
    else:
        candidates = list(converters.values())
    found = [(c, c.detect(state_dict)) for c in candidates]
    ours = [c for c, layout in found if layout == 'mmhybrid']
    found = [(c, layout) for c, layout in found
             if layout not in (None, 'mmhybrid')]
    if len(found) > 1:
        raise CheckpointLayoutError(
            'the checkpoint fits the converters of several families (' +
            ', '.join(c.family for c, _ in found) + '); pass --family')
    if not found:
        if ours:
            raise CheckpointLayoutError(
                f'the checkpoint is already in mmhybrid\'s {ours[0].family} '
                'classifier layout (backbone.*, head.*): nothing to convert')
        want = '; '.join(f'{c.family}: {c.expects}' for c in candidates)
        what = candidates[0].family if len(candidates) == 1 else \
            'any known family'
        raise CheckpointLayoutError(
            f'the checkpoint does not look like an upstream classifier of '
            f'{what} (expected {want}). Backbone-only checkpoints need no '
            'conversion: load them with the backbone\'s init_cfg.')
    converter, layout = found[0]
    return converter(state_dict), converter, layout


def convert_checkpoint(src, dst, family='auto', force=False):
    """Read the checkpoint ``src`` (safely, see
    :func:`mmhybrid.models.utils.read_state_dict`), convert it with
    :func:`convert_classifier_state_dict` and save an mmengine checkpoint
    (``{'state_dict', 'meta'}``) at ``dst`` atomically (a failed write
    keeps the old ``dst``). Refuses to overwrite ``dst`` unless ``force``.

    Returns:
        dict: ``family``, ``layout``, ``num_tensors``, ``dst`` and
        ``unknown`` (converted keys outside ``backbone.*`` / ``head.*``,
        kept unchanged).
    """
    from mmhybrid.models.utils import read_state_dict
    if osp.exists(dst) and not force:
        raise _DestinationExists(f'{dst!r} exists; pass --force to overwrite '
                              'it')
    state_dict = read_state_dict(src)
    try:
        converted, converter, layout = convert_classifier_state_dict(
            state_dict, family)
    except CheckpointLayoutError as e:
        raise CheckpointLayoutError(f'{src!r}: {e}') from None
    unknown = [k for k in converted
               if not k.startswith(('backbone.', 'head.'))]
    save_atomic({'state_dict': converted,
                 'meta': {'converted_from': osp.abspath(src),
                          'family': converter.family,
                          'source_layout': layout}}, dst)
    return dict(family=converter.family, layout=layout,
                num_tensors=len(converted), unknown=unknown, dst=dst)
