"""A config mistake ends with one sentence naming its key: a misspelt
top-level key (which mmengine would ignore), an unknown ``type``, an argument
a class does not take, a backbone arch that does not exist. In the library
(:class:`mmhybrid.apis.ConfigError`) and from the tools (exit code 1, no
traceback)."""
import ast
import glob
import os.path as osp
import subprocess
import sys

import pytest

from mmhybrid.apis import ConfigError, build_model, load_config
from mmhybrid.apis.runner import misspelt_key, runner_keys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG = osp.join(ROOT, 'configs/demo/fpn_shvit_s1_toy.py')
OWN_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'demo', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'ablations', '*.py')))


def _tool(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _refused(r, prog, *words):
    """Exit code 1, ``prog: error: ...`` naming ``words``, no traceback."""
    assert r.returncode == 1, r.stderr[-3000:]
    assert f'{prog}: error: ' in r.stderr
    assert 'Traceback' not in r.stderr, r.stderr[-3000:]
    for word in words:
        assert word in r.stderr, r.stderr[-3000:]


@pytest.mark.parametrize('typo,meant', [
    ('trian_dataloader', 'train_dataloader'),
    ('optim_wraper', 'optim_wrapper'),
    ('load_form', 'load_from'),
])
def test_misspelt_top_level_key_is_refused(typo, meant, tmp_path):
    cfg = tmp_path / f'{typo}.py'
    cfg.write_text(f'_base_ = [{SEG!r}]\n{typo} = dict()\n')
    with pytest.raises(ConfigError, match=f"'{typo}'.*did you mean '{meant}'"):
        load_config(str(cfg))


def test_misspelt_key_from_the_tool_names_it(tmp_path):
    cfg = tmp_path / 'typo.py'
    cfg.write_text(f"_base_ = [{SEG!r}]\nload_form = 'epoch_12.pth'\n")
    r = _tool('tools/train.py', str(cfg), '--work-dir', str(tmp_path / 'w'))
    _refused(r, 'tools/train.py', "'load_form'", "did you mean 'load_from'",
             str(cfg))
    assert not osp.exists(tmp_path / 'w')  # refused before anything ran


def test_helper_variables_are_not_taken_for_typos():
    known = runner_keys()
    for name in ('train_dataset', 'train_pipeline', 'test_pipeline',
                 'data_root', 'dataset_type', 'backend_args', 'vis_backends',
                 'img_scale', 'crop_size', 'norm_cfg', 'checkpoint',
                 'max_epochs', 'max_iters', 'base_lr', 'classes', 'metainfo',
                 'num_classes', 'model_wrapper', 'env_config', 'conv_cfg',
                 'models'):
        assert misspelt_key(name, known) is None, name


@pytest.mark.parametrize('path', OWN_CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in OWN_CONFIGS])
def test_every_config_of_ours_passes_the_key_check(path):
    load_config(path)  # raises ConfigError on a key taken for a typo


def test_no_framework_config_trips_the_key_check():
    """The top-level names of every config mmdet, mmseg and mmpretrain ship
    (thousands of authors' helper variables) pass the typo check."""
    import importlib
    known = runner_keys()
    files = []
    for package in ('mmdet', 'mmseg', 'mmpretrain'):
        root = osp.dirname(importlib.import_module(package).__file__)
        files += glob.glob(osp.join(root, '.mim', 'configs', '**', '*.py'),
                           recursive=True)
    assert len(files) > 1000
    flagged = set()
    for path in files:
        try:
            tree = ast.parse(open(path, encoding='utf-8').read())
        except SyntaxError:
            continue
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            for t in targets:
                if isinstance(t, ast.Name) and misspelt_key(t.id, known):
                    flagged.add((t.id, osp.relpath(path, root)))
    assert not flagged


def test_unknown_arch_names_the_key_and_the_choices():
    with pytest.raises(ConfigError) as e:
        build_model(SEG, cfg_options={'model.backbone.arch': 's9'})
    assert str(e.value).startswith('model.backbone.arch: ')
    assert "'s9'" in str(e.value) and "'s1', 's2', 's3', 's4'" in str(e.value)


def test_misspelt_argument_names_the_key_and_the_nearest():
    with pytest.raises(ConfigError, match=r"^model\.backbone\.out_indicse: "
                       r"SHViT takes no argument 'out_indicse'; did you "
                       r"mean 'out_indices'\?"):
        build_model(SEG, cfg_options={'model.backbone.out_indicse': [0, 1]})
    # an argument a base class refuses (FPNHead passes **kwargs on)
    with pytest.raises(ConfigError, match=r"^model\.decode_head\.dropout_rato"
                       r": .*did you mean 'dropout_ratio'\?"):
        build_model(SEG, cfg_options={'model.decode_head.dropout_rato': .1})


def test_unknown_type_names_the_key_and_the_nearest():
    with pytest.raises(ConfigError, match=r"^model\.backbone\.type: 'SHVit' "
                       r"is not a registered model type.*did you mean "
                       r"'SHViT'\?"):
        build_model(SEG, cfg_options={'model.backbone.type': 'SHVit'})


@pytest.mark.parametrize('tool', ['tools/train.py', 'tools/test.py'])
@pytest.mark.parametrize('option,words', [
    ('model.backbone.arch=s9', ['model.backbone.arch', "'s9'", "'s1'"]),
    ('model.backbone.out_indicse=[0,1]',
     ['model.backbone.out_indicse', "did you mean 'out_indices'"]),
    ('model.backbone.type=SHVit',
     ['model.backbone.type', "did you mean 'SHViT'"]),
])
def test_tools_end_a_model_mistake_with_a_sentence(tool, option, words,
                                                   tmp_path):
    ckpt = tmp_path / 'any.pth'
    ckpt.write_bytes(b'')
    extra = [str(ckpt)] if tool == 'tools/test.py' else []
    r = _tool(tool, SEG, *extra, '--work-dir', str(tmp_path / 'w'),
              '--cfg-options', option,
              f'train_dataloader.dataset.data_root={tmp_path}',
              f'val_dataloader.dataset.data_root={tmp_path}',
              f'test_dataloader.dataset.data_root={tmp_path}')
    _refused(r, tool, *words)


def test_inference_tool_ends_a_model_mistake_with_a_sentence(tmp_path,
                                                             toy_scenes):
    cfg = tmp_path / 'arch.py'
    cfg.write_text(f"_base_ = [{SEG!r}]\nmodel = dict(backbone=dict("
                   "arch='s9'))\n")
    r = _tool('tools/inference.py', toy_scenes['seg'], str(cfg),
              '--out-dir', str(tmp_path / 'out'), '--device', 'cpu')
    _refused(r, 'tools/inference.py', 'model.backbone.arch', "'s9'")
