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


_SNAPSHOT = r'''
import json, sys
from mmdet.registry import MODELS as DET
from mmpretrain.registry import MODELS as CLS
from mmseg.registry import MODELS as SEG
from mmengine.registry import MODELS as ROOT


def snapshot():
    return {r.scope: {n: f'{c.__module__}.{c.__qualname__}'
                      for n, c in r.module_dict.items()}
            for r in (ROOT, DET, SEG, CLS)}


def frameworks():
    import mmdet.utils, mmpretrain.utils, mmseg.utils
    for m in (mmdet.utils, mmseg.utils, mmpretrain.utils):
        m.register_all_modules(init_default_scope=False)


if sys.argv[1] == 'frameworks_first':
    frameworks()
    before = snapshot()
    import mmhybrid.models
else:
    import mmhybrid.models
    frameworks()  # raises if mmhybrid took a name a framework needs
    before = None
after = snapshot()
json.dump(dict(before=before, after=after), sys.stdout)
'''


@pytest.mark.parametrize('order', ['frameworks_first', 'mmhybrid_first'])
def test_import_replaces_no_framework_entry(order):
    """``import mmhybrid`` adds its components and changes no entry the
    frameworks registered, whichever comes first."""
    import json
    import subprocess
    import sys
    r = subprocess.run([sys.executable, '-c', _SNAPSHOT, order],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    ours = set(mmhybrid.models.__all__)
    for scope, after in result['after'].items():
        if scope == 'mmengine':
            assert 'HAM' in after  # mmcv's plugin builder looks here
        else:
            assert ours <= set(after), scope
        if result['before'] is not None:
            before = result['before'][scope]
            changed = {n for n in before if after.get(n) != before[n]}
            assert not changed, (scope, changed)
            assert set(after) - set(before) <= ours


def test_a_taken_name_is_refused():
    from mmhybrid.registry import register_in
    registry = _registries()['mmdet']

    class FPN:  # another class under the name of mmdet's FPN
        pass

    with pytest.raises(KeyError, match="'FPN' is already registered in the "
                       'mmdet::model registry by mmdet'):
        register_in(registry, FPN)
    assert registry.get('FPN').__module__.startswith('mmdet.')
