"""The model index: ``model-index.yml`` and ``configs/metafiles/*.yml`` in
OpenMMLab's format, registered in MMPretrain's ``ModelHub`` by one explicit
call (``register_model_index``; ``mmhybrid.apis.get_model``/``list_models``
make it), so that users find and load models by name, and upstream
classifier checkpoints (the released SHViT ``.pth``) load safely through our
converters (``mmhybrid.apis.get_model``)."""
import argparse
import os.path as osp
import subprocess
import sys

import pytest
import torch
from modelindex.load_model_index import load

import mmhybrid
from mmhybrid.apis import build_model, get_model
from mmhybrid.engine.model_index import model_index_path
from mmhybrid.engine.safe_load import UntrustedCheckpointError
from mmhybrid.models.backbones.shvit import shvit_to_mmpretrain
from mmhybrid.models.heads.ga_head import ga_cswin_to_mmpretrain
from mmhybrid.models.utils import (CheckpointMismatchError,
                                   load_model_checkpoint)
from reference import deterministic_state_dict, manifest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
INDEX = osp.join(ROOT, 'model-index.yml')


def _models():
    index = load(INDEX)
    index.build_models_with_collections()
    return index.models


MODELS = {m.name: m for m in _models()}
CLASSIFIERS = sorted(
    n for n, m in MODELS.items()
    if any(r.task == 'Image Classification' for r in m.results or [])
    or n == 'hamvit_folder')


def test_index_is_this_trees():
    # at the root of a checkout, or through mmhybrid/.mim (a pip install)
    assert osp.realpath(model_index_path()) == INDEX
    assert osp.dirname(osp.dirname(mmhybrid.__file__)) == ROOT


def test_index_names_and_fields():
    names = set(MODELS)
    for arch in ('s1', 's2', 's3', 's4'):
        assert f'shvit-{arch}_in1k' in names
    assert {'ga-cswin-t_in1k', 'ga-cswin-s_in1k', 'harmovision-n_in1k',
            'harmovision-t_in1k', 'harmovision-s_in1k', 'hamvit_folder',
            'maskrcnn_shvit-s4_coco', 'upernet_ga-cswin-t_ade20k'} <= names
    for name, m in MODELS.items():
        assert name == name.lower(), name
        assert m.in_collection, name
        assert isinstance(m.metadata.parameters, int), name
    # weights only where upstream released them: SHViT's ImageNet files
    with_weights = {n: m.weights for n, m in MODELS.items() if m.weights}
    assert with_weights == {
        f'shvit-{a}_in1k': 'https://github.com/ysj9909/SHViT/releases/'
        f'download/v1.0/shvit_{a}.pth' for a in ('s1', 's2', 's3', 's4')}


@pytest.mark.parametrize('name', sorted(MODELS))
def test_config_exists_builds_and_parameters_match(name):
    m = MODELS[name]
    config = osp.join(ROOT, m.config)
    assert osp.isfile(config), f'{name}: {m.config} does not exist'
    model = build_model(config)
    measured = sum(p.numel() for p in model.parameters())
    assert m.metadata.parameters == measured, (
        f'{name}: the metafile says {m.metadata.parameters}, the built '
        f'{m.config} has {measured}')


def test_list_models_in_a_fresh_process():
    code = ('import mmpretrain; '
            'from mmhybrid.engine.model_index import register_model_index; '
            "print(mmpretrain.list_models('shvit*')); "
            'register_model_index(); '
            "print(mmpretrain.list_models('shvit*')); "
            "print(mmpretrain.list_models('maskrcnn_shvit'))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout.splitlines()
    assert out[-3] == '[]'  # importing mmhybrid registers nothing there
    assert out[-2] == str([f'shvit-{a}_in1k' for a in ('s1', 's2', 's3',
                                                       's4')])
    # only classifiers go into MMPretrain's hub (get_model builds those)
    assert out[-1] == '[]'


def test_registered_in_mmpretrain_once():
    import mmpretrain
    from mmpretrain.apis.model import ModelHub

    from mmhybrid.engine.model_index import register_model_index
    register_model_index()
    register_model_index()
    assert mmpretrain.list_models('ga-cswin') == ['ga-cswin-s_in1k',
                                                 'ga-cswin-t_in1k']
    assert set(CLASSIFIERS) <= set(mmpretrain.list_models())
    # mmpretrain's own models are still there
    assert 'resnet50_8xb32_in1k' in mmpretrain.list_models('resnet50')
    assert ModelHub.get('shvit-s4_in1k').config.model.backbone.arch == 's4'
    # MMPretrain would read a URL through torch.hub, unpickling it fully:
    # the hub's copies carry no weights, mmhybrid.apis.get_model reads them
    assert ModelHub.get('shvit-s4_in1k').weights is None


def _official_shvit(tmp_path, arch='s1'):
    """A file in the layout of the released SHViT weights (weights under
    'model', the training args beside them), random values."""
    state_dict = deterministic_state_dict(manifest(f'shvit_{arch}'))
    path = tmp_path / f'shvit_{arch}.pth'
    torch.save({'model': state_dict, 'epoch': 299,
                'args': argparse.Namespace(model=f'shvit_{arch}')}, path)
    return state_dict, str(path)


def _assert_weights(model, expected):
    ours = model.state_dict()
    assert set(expected) <= set(ours)
    for k, v in expected.items():
        assert torch.equal(ours[k], v), k
    missing = [k for k in ours if k not in expected
               and not k.endswith('num_batches_tracked')]
    assert not missing, missing


def test_get_model_loads_the_official_shvit_layout(tmp_path):
    state_dict, path = _official_shvit(tmp_path)
    model = get_model('shvit-s1_in1k', pretrained=path)
    _assert_weights(model, shvit_to_mmpretrain(state_dict))
    # the same file through mmhybrid's checked loader (load_from,
    # tools/test.py)
    again = build_model(osp.join(ROOT, 'configs/imagenet_shvit_s1.py'))
    load_model_checkpoint(again, path)
    _assert_weights(again, shvit_to_mmpretrain(state_dict))


def test_get_model_loads_the_timm_shvit_layout(tmp_path):
    state_dict = deterministic_state_dict(manifest('timm_shvit_s1'))
    path = tmp_path / 'timm.pth'
    torch.save(state_dict, path)
    model = get_model('shvit-s1_in1k', pretrained=str(path))
    _assert_weights(model, shvit_to_mmpretrain(state_dict))


def test_get_model_loads_the_upstream_ga_cswin_layout(tmp_path):
    state_dict = deterministic_state_dict(manifest('ga_cswin_t'))
    path = tmp_path / 'ga_cswin_t.pth'
    torch.save({'state_dict_ema': state_dict}, path)
    model = get_model('ga-cswin-t_in1k', pretrained=str(path))
    _assert_weights(model, ga_cswin_to_mmpretrain(state_dict))


def test_get_model_refuses_another_arch(tmp_path):
    _, path = _official_shvit(tmp_path, 's2')
    with pytest.raises(CheckpointMismatchError, match='do not fit'):
        get_model('shvit-s1_in1k', pretrained=path)


class _Payload:
    """Anything that is not on the allow-list."""

    def __reduce__(self):
        return (print, ('this must never run', ))


def test_get_model_reads_files_safely(tmp_path):
    state_dict, _ = _official_shvit(tmp_path)
    path = tmp_path / 'evil.pth'
    torch.save({'model': state_dict, 'payload': _Payload()}, path)
    with pytest.raises(UntrustedCheckpointError, match='print'):
        get_model('shvit-s1_in1k', pretrained=str(path))


def test_our_own_checkpoint_is_not_converted_again(tmp_path):
    state_dict, _ = _official_shvit(tmp_path)
    converted = shvit_to_mmpretrain(state_dict)
    path = tmp_path / 'ours.pth'
    torch.save({'state_dict': converted, 'meta': {}}, path)
    model = get_model('shvit-s1_in1k', pretrained=str(path))
    _assert_weights(model, converted)
