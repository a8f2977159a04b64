"""mmhybrid.apis.build_model / TensorForward: the one way the tools build and
run a model."""
import ast
import glob
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.registry import DefaultScope

from mmhybrid.apis import TensorForward, build_model
from mmhybrid.models.utils import CheckpointMismatchError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DET = osp.join(ROOT, 'configs/demo/maskrcnn_shvit_s1_toy.py')


@pytest.mark.parametrize('config,framework', [
    ('configs/demo/maskrcnn_shvit_s1_toy.py', 'mmdet'),
    ('configs/demo/fpn_shvit_s1_toy.py', 'mmseg'),
    ('configs/hamvit_folder.py', 'mmpretrain'),
])
def test_config_builds_in_its_framework_scope(config, framework):
    before = DefaultScope.get_current_instance()
    before = before and before.scope_name
    model = build_model(osp.join(ROOT, config))
    now = DefaultScope.get_current_instance()
    assert (now and now.scope_name) == before  # the caller's scope stays
    assert type(model).__module__.startswith(framework + '.')
    assert not model.training
    assert model.cfg.default_scope == framework


def test_top_level_data_preprocessor_is_merged():
    model = build_model(osp.join(ROOT, 'configs/hamvit_folder.py'))
    mean = model.cfg.data_preprocessor['mean']
    assert model.data_preprocessor.mean.flatten().tolist() == \
        pytest.approx(mean)


def test_cfg_options_apply():
    model = build_model(
        osp.join(ROOT, 'configs/demo/fpn_shvit_s1_toy.py'),
        cfg_options={'model.decode_head.num_classes': 7})
    assert model.decode_head.num_classes == 7


def test_backbone_bare_and_as_classifier():
    bare = build_model(backbone='SHViT', arch='s1',
                       cfg_options=dict(out_indices=(1, 2)))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        outs = TensorForward(bare, output='tuple')(x)
    assert type(bare).__name__ == 'SHViT' and len(outs) == 2
    cls = build_model(backbone='SHViT', arch='s1', num_classes=5)
    with torch.no_grad():
        logits = TensorForward(cls, output='last')(x)
    assert logits.shape == (1, 5)


def test_backbone_checkpoint_loads_bare_or_whole_model_keys(tmp_path):
    src = build_model(backbone='SHViT', arch='s1', num_classes=5)
    whole = str(tmp_path / 'cls.pth')
    torch.save({'state_dict': src.state_dict()}, whole)
    own = str(tmp_path / 'backbone.pth')
    torch.save(src.backbone.state_dict(), own)
    want = src.backbone.state_dict()
    for path in (whole, own):
        got = build_model(backbone='SHViT', arch='s1',
                          checkpoint=path).state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want)
    again = build_model(backbone='SHViT', arch='s1', num_classes=5,
                        checkpoint=whole)
    assert all(torch.equal(v, src.state_dict()[k])
               for k, v in again.state_dict().items())


def test_checkpoint_of_another_model_is_refused(tmp_path):
    other = str(tmp_path / 's2.pth')
    torch.save({'state_dict': build_model(
        backbone='SHViT', arch='s2', num_classes=5).state_dict()}, other)
    with pytest.raises(CheckpointMismatchError):
        build_model(backbone='SHViT', arch='s1', num_classes=5,
                    checkpoint=other)
    with pytest.raises(CheckpointMismatchError):
        build_model(backbone='SHViT', arch='s1', checkpoint=other)
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        build_model(backbone='SHViT', arch='s1',
                    checkpoint=str(tmp_path / 'absent.pth'))


def test_tensor_forward_gives_a_detector_its_image_metas():
    model = build_model(DET)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        with pytest.raises(TypeError):  # the RPN needs the image sizes
            model(x, None, mode='tensor')
        out = TensorForward(model, output='tuple')(x)
    assert out and all(isinstance(o, (tuple, torch.Tensor)) for o in out)


def test_one_config_or_one_backbone():
    with pytest.raises(ValueError, match='one of them'):
        build_model()
    with pytest.raises(ValueError, match='one of them'):
        build_model('configs/imagenet_shvit_s1.py', backbone='SHViT')
    with pytest.raises(ValueError, match='output'):
        TensorForward(torch.nn.Identity(), output='logits')


def test_utils_does_not_import_apis():
    code = ('import sys, mmhybrid.utils; '
            "assert 'mmhybrid.apis' not in sys.modules, 'utils -> apis'")
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]


def test_no_tool_edits_sys_path():
    offenders = []
    for path in glob.glob(osp.join(ROOT, 'tools', '**', '*.py'),
                          recursive=True):
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == 'path' and \
                    isinstance(node.value, ast.Name) and \
                    node.value.id == 'sys':
                offenders.append(osp.relpath(path, ROOT))
    assert not offenders
