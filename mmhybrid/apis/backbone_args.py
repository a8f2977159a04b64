"""``--backbone`` / ``--arch`` of the tools, with the choices read from the
registry (every :class:`~mmhybrid.models.backbones.base.HybridBackbone`
registered in mmhybrid's scope), so a new family is offered as soon as its
model file is imported."""
import importlib

__all__ = ['registered_backbones', 'add_backbone_args']


def registered_backbones(registry=None):
    """Sorted names of the ``HybridBackbone`` subclasses in mmhybrid's
    MODELS registry (``registry`` to read another); imports
    :mod:`mmhybrid.models` first."""
    from mmhybrid.models.backbones.base import HybridBackbone
    if registry is None:
        importlib.import_module('mmhybrid.models')
        from mmhybrid.registry import MODELS as registry
    return sorted(name for name, cls in registry.module_dict.items()
                  if isinstance(cls, type) and issubclass(cls, HybridBackbone))


def add_backbone_args(parser, group=None, arch=True, help=None):
    """Add ``--backbone`` (choices: :func:`registered_backbones`) to
    ``group`` (e.g. a mutually exclusive group; default ``parser``) and,
    with ``arch``, ``--arch`` to ``parser``. Returns the ``--backbone``
    action."""
    choices = registered_backbones()
    action = (group or parser).add_argument(
        '--backbone', choices=choices, metavar='TYPE',
        help=(help or 'a registered backbone') + ': ' + ', '.join(choices))
    if arch:
        parser.add_argument('--arch', help='backbone arch (a name of its '
                            'arch_zoo; with --backbone)')
    return action
