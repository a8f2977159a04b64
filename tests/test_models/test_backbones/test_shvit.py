"""SHViT: equality with the upstream code, spec sizes, its rounding of odd
input sizes, checkpoint errors (the backbone contract:
test_contract.py)."""
import logging

import pytest
import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

from mmhybrid.models import SHViT, BNLinearClsHead
from mmhybrid.models.backbones.shvit import shvit_convert
from reference import (assert_close_to_ref, deterministic_state_dict,
                       manifest, official_to_timm_shvit, reference_input,
                       reference_outputs)

ARCHS = ['s1', 's2', 's3', 's4']
# spec table: params with the 1000-class head, MACs at the arch's input size
PARAMS = {'s1': 6_330_808, 's2': 11_483_072, 's3': 14_245_273,
          's4': 16_588_484}
MACS = {'s1': 241e6, 's2': 366e6, 's3': 601e6, 's4': 986e6}
RES = {'s1': 224, 's2': 224, 's3': 224, 's4': 256}


def _loaded_backbone(arch, layout='official', tmp_path=None):
    """Upstream deterministic weights saved in the given layout, loaded through
    ``init_cfg``."""
    state_dict = deterministic_state_dict(manifest(f'shvit_{arch}'))
    if layout == 'timm':
        state_dict = {official_to_timm_shvit(k): v for k, v in state_dict.items()}
        assert set(state_dict) == set(manifest(f'timm_shvit_{arch}'))
    path = tmp_path / f'{layout}_{arch}.pth'
    torch.save({'model': state_dict} if layout == 'official' else state_dict,
               path)
    model = SHViT(arch=arch,
                  init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    return model.eval()


def _check_features(model, ref, tag):
    errors = []
    x = reference_input((2, 3, ref['res'], ref['res']), ref['input_seed'])
    x_odd = reference_input((1, 3, *ref['odd_shape']), ref['odd_input_seed'])
    with torch.no_grad():
        for i, feat in enumerate(model(x)):
            errors.append(assert_close_to_ref(feat, ref[f'feat{i}'],
                                              f'{tag} feat{i}'))
        for i, feat in enumerate(model(x_odd)):
            errors.append(assert_close_to_ref(feat, ref[f'odd_feat{i}'],
                                              f'{tag} odd_feat{i}'))
    return max(errors)


@pytest.mark.parametrize('arch', ARCHS)
def test_features_equal_upstream(arch, tmp_path):
    ref = reference_outputs(f'shvit_{arch}')
    model = _loaded_backbone(arch, 'official', tmp_path)
    err = _check_features(model, ref, arch)
    model.switch_to_deploy()
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    err_deploy = _check_features(model, ref, f'{arch} deploy')
    print(f'{arch}: max rel err {err:.2e}, deploy {err_deploy:.2e}')


@pytest.mark.parametrize('arch', ARCHS)
def test_timm_layout_gives_same_features(arch, tmp_path):
    ref = reference_outputs(f'shvit_{arch}')
    _check_features(_loaded_backbone(arch, 'timm', tmp_path), ref,
                    f'timm {arch}')


def test_timm_rename_covers_every_key():
    for arch in ARCHS:
        official = manifest(f'shvit_{arch}')
        timm = manifest(f'timm_shvit_{arch}')
        converted = shvit_convert({k: torch.empty(v) for k, v in timm.items()})
        assert {k: list(v.shape) for k, v in converted.items()} == official


@pytest.mark.parametrize('arch', ARCHS)
def test_param_count_matches_spec(arch):
    init_default_scope('mmpretrain')
    model = SHViT(arch=arch)
    head = BNLinearClsHead(1000, model.embed_dims[-1])
    n = sum(p.numel() for p in model.parameters()) + \
        sum(p.numel() for p in head.parameters())
    assert n == PARAMS[arch]


@pytest.mark.parametrize('arch', ARCHS)
def test_flops_within_2_percent(arch):
    model = SHViT(arch=arch).eval()
    info = get_model_complexity_info(model, input_shape=(3, RES[arch],
                                                         RES[arch]),
                                     show_table=False, show_arch=False)
    flops = info['flops']
    print(f'{arch}: {flops / 1e6:.1f}M FLOPs at {RES[arch]}')
    assert abs(flops - MACS[arch]) / MACS[arch] < 0.02


@pytest.mark.parametrize('size', [(33, 47), (97, 200), (250, 330), (1, 1)])
def test_any_input_size(size):
    model = SHViT(arch='s1').eval()
    outs = model(torch.randn(1, 3, *size))
    assert outs[-1].shape[2:] == (-(-size[0] // 64), -(-size[1] // 64))


def test_custom_arch_dict():
    arch = dict(embed_dims=[32, 48, 64], depths=[1, 1, 1],
                partial_dims=[8, 12, 16], qk_dims=[8, 8, 8],
                types=['i', 's', 's'])
    outs = SHViT(arch=arch).eval()(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 48, 64]


def test_missing_checkpoint_names_path(tmp_path):
    path = str(tmp_path / 'nope' / 'shvit_s1.pth')
    model = SHViT(arch='s1', init_cfg=dict(type='Pretrained',
                                           checkpoint=path))
    with pytest.raises(FileNotFoundError, match='nope/shvit_s1.pth'):
        model.init_weights()


def test_wrong_shapes_list_keys_and_load_nothing(tmp_path):
    state_dict = deterministic_state_dict(manifest('shvit_s1'))
    path = tmp_path / 's1.pth'
    torch.save({'model': state_dict}, path)
    model = SHViT(arch='s2', init_cfg=dict(type='Pretrained',
                                           checkpoint=str(path)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match=r'blocks2\.1\.conv3\.c\.weight'):
        model.init_weights()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_pretrained_reports_skipped_head_keys(tmp_path):
    state_dict = deterministic_state_dict(manifest('shvit_s1'))
    path = tmp_path / 's1.pth'
    torch.save({'model': state_dict}, path)
    model = SHViT(arch='s1', init_cfg=dict(type='Pretrained',
                                           checkpoint=str(path)))
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    out = '\n'.join(records)
    assert 'Skipped 7 checkpoint keys' in out and 'head.l.weight' in out


def test_classifier_head_deploy_equal():
    init_default_scope('mmpretrain')
    head = BNLinearClsHead(10, 32).eval()
    head.bn.running_mean.normal_()
    head.bn.running_var.uniform_(0.5, 1.5)
    feats = (torch.randn(4, 32), )
    before = head(feats)
    head.switch_to_deploy()
    torch.testing.assert_close(head(feats), before, rtol=1e-5, atol=1e-5)
