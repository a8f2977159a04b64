"""The example family of ``docs/adding_a_family.md``
(``tests/example_family/``): its model file and config are all it takes.
Its config brings it in through ``custom_imports``; the contract suite
(``test_contract.py``) runs on it like on every family, and the
visualisation reads its feature facts, attention maps and CAM layer."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmhybrid.visualization import capture_attention, default_cam_layer

from tests import ROOT
CONFIG = osp.join(ROOT, 'tests', 'example_family', 'toy_hybrid_cls.py')


def _classifier():
    cfg = Config.fromfile(CONFIG)  # runs custom_imports: registers ToyHybrid
    from mmpretrain.registry import MODELS
    init_default_scope(cfg.default_scope)
    model = MODELS.build(dict(cfg.model,
                              data_preprocessor=cfg.data_preprocessor))
    model.init_weights()
    return model.eval()


def test_config_builds_the_classifier():
    model = _classifier()
    from tests.example_family.toy_hybrid import ToyHybrid
    assert isinstance(model.backbone, ToyHybrid)
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 48, 40), mode='tensor')
    assert logits.shape == (2, 3)


def test_registered_like_every_family():
    _classifier()
    from mmdet.registry import MODELS as DET
    from mmseg.registry import MODELS as SEG

    from mmhybrid.models.backbones.base import HybridBackbone
    from mmhybrid.registry import MODELS
    for registry in (MODELS, DET, SEG):
        assert issubclass(registry.get('ToyHybrid'), HybridBackbone)


def test_feature_info():
    backbone = _classifier().backbone
    assert backbone.feature_info == [
        dict(num_chs=32, reduction=8, module='stage2')]
    with torch.no_grad():
        (out, ) = backbone(torch.randn(1, 3, 64, 96))
    assert out.shape == (1, 32, 8, 12)


def test_attention_capture_and_cam_layer():
    model = _classifier()
    x = torch.randn(1, 3, 64, 48)
    records = capture_attention(model, lambda: model(x, mode='tensor'))
    assert [(r['name'], r['type'], r['hw']) for r in records] == [
        ('backbone.stage2.1', 'toy', (8, 6))]
    maps = records[0]['maps']
    assert maps['attn'].shape == (1, 48, 48)
    assert maps['mean'].shape == maps['query'].shape == (1, 8, 6)
    # the query row of the centre position (4, 3) of the 8 x 6 grid
    torch.testing.assert_close(maps['query'].flatten(1),
                               maps['attn'][:, 4 * 6 + 3])
    torch.testing.assert_close(maps['query'].sum(), torch.tensor(1.))
    layer = default_cam_layer(model)
    assert layer is model.backbone.stage2[-1]


def _photo():
    from matplotlib import cbook
    return str(cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))


def test_maps_drawn_through_the_library(tmp_path):
    """Its maps are drawn by their layout ('tokens'): no line about the
    family outside its own files."""
    from mmhybrid.apis import visualize_attention
    done = visualize_attention(_photo(), str(tmp_path), model=_classifier(),
                               shape=(64, 48), cam=True)
    assert done['family'] == 'ToyHybrid'
    assert sorted(osp.basename(p) for p in done['paths']) == [
        'grace_hopper_toyhybrid_gradcam.png',
        'grace_hopper_toyhybrid_toy_mean.png',
        'grace_hopper_toyhybrid_toy_query.png']
    assert all(osp.getsize(p) > 1000 for p in done['paths'])


def test_maps_drawn_by_the_tool_from_its_config(tmp_path):
    """tools/analysis_tools/visualize_attention.py --config: the config's
    custom_imports bring the model file in."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get('PYTHONPATH', '').split(
            os.pathsep) if p]))
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/visualize_attention.py',
         _photo(), '--config', CONFIG, '--out-dir', str(tmp_path),
         '--shape', '64', '64'], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'ToyHybrid' in r.stdout
    assert sorted(os.listdir(tmp_path)) == [
        'grace_hopper_toyhybrid_toy_mean.png',
        'grace_hopper_toyhybrid_toy_query.png']
