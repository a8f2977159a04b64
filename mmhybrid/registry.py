"""Registries of mmhybrid.

Every model component is registered once with :func:`register_model`, which
puts it into the ``mmhybrid`` scope and into the MODELS registries of
MMPretrain, MMDetection and MMSegmentation, so ``type='SHViT'`` works under
each framework's default scope. A name a framework (or anything else)
already registered is never replaced: that is an error.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmhybrid',
    locations=['mmhybrid.models'])


def _framework_registries():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    from mmseg.registry import MODELS as MMSEG_MODELS
    return [MMPRETRAIN_MODELS, MMDET_MODELS, MMSEG_MODELS]


def _is_same_class(a, b):
    """``b`` is ``a`` itself, or ``a`` re-created by importing its mmhybrid
    module again (e.g. ``importlib.reload``)."""
    return a is b or (a.__module__ == b.__module__
                      and a.__qualname__ == b.__qualname__
                      and a.__module__.startswith('mmhybrid.'))


def register_in(registry, cls):
    """Register ``cls`` under its name in ``registry``; refuse, naming the
    owner, when the name belongs to another class."""
    name = cls.__name__
    existing = registry.module_dict.get(name)
    if existing is None:
        registry.register_module(module=cls)
    elif not _is_same_class(existing, cls):
        raise KeyError(
            f'{name!r} is already registered in the {registry.scope}::'
            f'{registry.name} registry by {existing.__module__}; mmhybrid '
            f'does not replace it')
    elif existing is not cls:  # the same mmhybrid class, imported again
        registry.module_dict[name] = cls
    return cls


def register_model(cls):
    """Class decorator: register ``cls`` in all four MODELS registries."""
    for registry in [MODELS] + _framework_registries():
        register_in(registry, cls)
    return cls
