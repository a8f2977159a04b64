"""Registries of mmhybrid.

Every model component is registered once with :func:`register_model`, which
puts it into the ``mmhybrid`` scope and into the MODELS registries of
MMPretrain, MMDetection and MMSegmentation, so ``type='SHViT'`` works under
each framework's default scope.
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


def register_model(cls):
    """Class decorator: register ``cls`` in all four MODELS registries."""
    for registry in [MODELS] + _framework_registries():
        registry.register_module(module=cls, force=True)
    return cls
