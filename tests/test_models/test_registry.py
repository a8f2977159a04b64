"""``import mmhybrid.models`` registers every component in the MODELS
registries of MMPretrain, MMDetection, MMSegmentation and mmhybrid."""
import pytest
from mmengine.registry import DefaultScope, init_default_scope

import mmhybrid.models
from mmhybrid.registry import MODELS as MMHYBRID_MODELS


def _registries():
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as CLS
    from mmseg.registry import MODELS as SEG
    return dict(mmpretrain=CLS, mmdet=DET, mmseg=SEG)


@pytest.mark.parametrize('name', mmhybrid.models.__all__)
def test_registered_everywhere(name):
    cls = getattr(mmhybrid.models, name)
    assert MMHYBRID_MODELS.get(name) is cls
    assert MMHYBRID_MODELS.scope == 'mmhybrid'
    for scope, registry in _registries().items():
        assert registry.get(name) is cls, f'{name} missing in {scope}'


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_build_under_each_default_scope(scope):
    init_default_scope(scope)
    assert DefaultScope.get_current_instance().scope_name == scope
    backbone = _registries()[scope].build(dict(type='SHViT', arch='s1'))
    assert type(backbone).__name__ == 'SHViT'
