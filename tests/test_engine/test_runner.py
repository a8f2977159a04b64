"""mmhybrid's opt-in Runner (``runner_type='HybridRunner'``): resume /
load_from of mmengine checkpoints under torch >= 2.6 (weights_only with an
allow-list), CPU-only distributed runs, and that mmhybrid's configs choose
it while a user's own config keeps mmengine's Runner."""
import os
import os.path as osp
import subprocess

import pytest
import torch
from tiny_runner import tiny_runner

from mmengine.config import Config
from mmengine.runner import Runner

from mmhybrid.engine import HybridRunner, SafeCheckpointHook
from mmhybrid.engine.safe_load import safe_load

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_torch_load_defaults_to_weights_only():
    # the trap this module fixes exists on this torch
    major, minor = (int(v) for v in torch.__version__.split('.')[:2])
    assert (major, minor) >= (2, 6)


def test_resume_and_load_from_under_weights_only_default(tmp_path):
    runner = tiny_runner(tmp_path, max_epochs=1)
    runner.train()
    ckpt = tmp_path / 'epoch_1.pth'
    assert ckpt.is_file()
    # the checkpoint holds objects that plain weights_only=True rejects;
    # the allow-list of safe_load names them (message hub, numpy, Counter)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(ckpt, weights_only=True)
    assert 'message_hub' in safe_load(ckpt)

    resumed = tiny_runner(tmp_path, max_epochs=2, resume=True)
    resumed.train()
    assert resumed.epoch == 2 and (tmp_path / 'epoch_2.pth').is_file()

    loaded = tiny_runner(tmp_path / 'b', max_epochs=1, load_from=str(ckpt))
    loaded.train()
    saved = safe_load(ckpt)['state_dict']
    assert set(saved) == set(loaded.model.state_dict())


def test_stock_runner_is_left_as_it_is(tmp_path):
    """A user's config without ``runner_type`` runs mmengine's own Runner,
    which reads a run's checkpoint as torch does (refused under
    weights_only): mmhybrid changed nothing there."""
    runner = tiny_runner(tmp_path, max_epochs=1)
    runner.train()
    stock = tiny_runner(tmp_path / 'b', max_epochs=1, runner_cls=Runner,
                        load_from=str(tmp_path / 'epoch_1.pth'))
    assert type(stock) is Runner
    with pytest.raises(Exception, match='Weights only load failed'):
        stock.train()


def test_mmhybrid_configs_choose_the_runner_and_hook():
    import glob
    configs = [c for c in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                                    recursive=True) if '_base_' not in c]
    assert len(configs) > 40
    for path in configs:
        cfg = Config.fromfile(path)
        assert cfg.runner_type == 'HybridRunner', path
        assert cfg.default_hooks.checkpoint.type == 'SafeCheckpointHook', \
            path
    from mmengine.registry import HOOKS, RUNNERS
    assert RUNNERS.get('HybridRunner') is HybridRunner
    assert HOOKS.get('SafeCheckpointHook') is SafeCheckpointHook


@pytest.mark.slow
def test_two_process_cpu_training(tmp_path):
    """tools/dist_train.sh with 2 processes on the CPU (gloo, no device ids,
    SyncBN reverted)."""
    if torch.cuda.is_available():
        pytest.skip('checks the CPU path; this machine has a GPU')
    from mmhybrid.testing.toy import make_toy_coco
    data_root = tmp_path / 'toy'
    make_toy_coco(str(data_root / 'coco'))
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PORT='29517')
    cmd = ['bash', 'tools/dist_train.sh',
           'configs/demo/maskrcnn_shvit_s1_toy.py', '2',
           '--work-dir', str(work_dir), '--cfg-options',
           f'train_dataloader.dataset.data_root={data_root}/coco/',
           'train_dataloader.dataset.indices=8',
           'train_dataloader.batch_size=2', 'train_cfg.max_epochs=1',
           'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
           # mmengine's GPU default: mmhybrid must fall back to gloo
           'env_cfg.dist_cfg.backend=nccl']
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert (work_dir / 'epoch_1.pth').is_file()
    run_log = next(work_dir.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in run_log
    assert 'GPU number: 2' in run_log  # mmengine's name for world size

    cmd = ['bash', 'tools/dist_test.sh',
           'configs/demo/maskrcnn_shvit_s1_toy.py',
           str(work_dir / 'epoch_1.pth'), '2', '--work-dir', str(work_dir),
           '--cfg-options',
           f'test_dataloader.dataset.data_root={data_root}/coco/',
           f'test_evaluator.ann_file={data_root}/coco/annotations/'
           'instances_val2017.json', 'env_cfg.dist_cfg.backend=nccl']
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert 'bbox_mAP: ' in result.stdout and 'segm_mAP: ' in result.stdout


def test_readme_opt_in_lines_give_a_users_config_the_policy(tmp_path):
    """A user's config that only borrows a backbone keeps mmengine's
    Runner; the README's two lines opt it in."""
    from mmhybrid.apis import build_runner
    readme = open(osp.join(ROOT, 'README.md'), encoding='utf-8').read()
    blocks = [b.split('```', 1)[0] for b in readme.split('```python\n')[1:]]
    opt_in = next(b for b in blocks if "runner_type = 'HybridRunner'" in b)
    user = ("_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'\n"
            "custom_imports = dict(imports=['mmhybrid.models'])\n"
            "model = dict(backbone=dict(_delete_=True, type='SHViT', "
            "arch='s1', out_indices=(0, 1, 2)), neck=dict(_delete_=True, "
            "type='TransposedConvFPN', in_channels=[128, 224, 320], "
            "out_channels=256, num_outs=5, num_upsample=2))\n")
    for name, text, runner_cls, hook in (
            ('stock', user, Runner, 'CheckpointHook'),
            ('opted_in', user + opt_in, HybridRunner, 'SafeCheckpointHook')):
        path = tmp_path / f'{name}.py'
        path.write_text(text)
        cfg = Config.fromfile(str(path))
        cfg.work_dir = str(tmp_path / name)
        runner = build_runner(cfg)
        assert type(runner) is runner_cls, name
        assert cfg.default_hooks.checkpoint.type == hook, name
