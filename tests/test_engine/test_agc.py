"""Adaptive gradient clipping as an optimizer wrapper (``AGCOptimWrapper``,
``AGCAmpOptimWrapper``): one step equals timm's ``adaptive_clip_grad`` +
``optimizer.step()`` bit for bit, it clips what it should, every framework's
registry builds it, and bad settings fail clearly."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from timm.utils import adaptive_clip_grad

from mmhybrid.engine import (AGCAmpOptimWrapper, AGCOptimWrapper,
                             amp_wrapper_type)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 5))


def _loss(model, scale):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 6, 6, generator=g) * scale
    return model(x).square().mean() * scale


def _cfg(clip_factor=0.02, **kwargs):
    return dict(type='AGCOptimWrapper',
                clip_grad=dict(clip_factor=clip_factor, **kwargs),
                optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05))


@pytest.mark.parametrize('scale', [1.0, 100.0])
def test_one_step_equals_timm_agc_then_step(scale):
    ours, theirs = _model(), _model()
    wrapper = build_optim_wrapper(ours, _cfg())
    assert type(wrapper) is AGCOptimWrapper
    wrapper.update_params(_loss(ours, scale))

    optimizer = torch.optim.AdamW(theirs.parameters(), lr=1e-2,
                                  weight_decay=0.05)
    _loss(theirs, scale).backward()
    # as timm's dispatch_clip_grad(model.parameters(), 0.02, mode='agc')
    adaptive_clip_grad(theirs.parameters(), 0.02)
    optimizer.step()

    for (name, a), b in zip(ours.state_dict().items(),
                            theirs.state_dict().values()):
        assert torch.equal(a, b), name


def test_clipping_changes_the_step_when_gradients_are_large():
    """Large gradients (scale 100) are clipped: the step differs from an
    unclipped one; small ones (a huge factor) leave it unchanged."""
    def step(cfg):
        model = _model()
        build_optim_wrapper(model, cfg).update_params(_loss(model, 100.0))
        return model.state_dict()

    plain = step(dict(optimizer=dict(type='SGD', lr=1e-3)))
    agc = step(dict(_cfg(), optimizer=dict(type='SGD', lr=1e-3)))
    loose = step(dict(_cfg(1e9), optimizer=dict(type='SGD', lr=1e-3)))
    assert any(not torch.equal(plain[k], agc[k]) for k in plain)
    assert all(torch.equal(plain[k], loose[k]) for k in plain)


def test_unitwise_clip_values():
    """Each output row's gradient is capped at clip_factor x max(||w_row||,
    eps); rows under the cap keep their gradient (the values are worked out
    by hand, not by the code under test)."""
    weight = nn.Parameter(torch.tensor([[3.0, 4.0], [3.0, 4.0],
                                        [0.0, 0.0]]))
    wrapper = AGCOptimWrapper(
        optimizer=torch.optim.SGD([weight], lr=1.0),
        clip_grad=dict(clip_factor=0.1, eps=1e-3))
    # row norms of w: 5, 5, 0 (-> eps); caps 0.5, 0.5, 1e-4
    weight.grad = torch.tensor([[0.0, 2.0], [0.3, 0.0], [0.0, 1.0]])
    wrapper.step()
    expected = torch.tensor([[3.0, 4.0 - 0.5], [3.0 - 0.3, 4.0],
                             [0.0, -1e-4]])
    torch.testing.assert_close(weight.data, expected)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_built_through_every_framework_scope(scope):
    """mmpretrain/mmdet/mmseg runners build optimizer wrappers through their
    child registries; AGC, registered in mmengine's root, is found."""
    import importlib
    importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        wrapper = build_optim_wrapper(_model(), _cfg())
    assert type(wrapper) is AGCOptimWrapper
    assert wrapper.clip_grad_kwargs == dict(clip_factor=0.02, eps=1e-3,
                                            norm_type=2.0)


def test_shvit_config_builds_agc():
    from mmhybrid.apis import load_config
    cfg = load_config(osp.join(ROOT, 'configs/imagenet_shvit_s1.py'))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        wrapper = build_optim_wrapper(_model(), copy.deepcopy(
            cfg.optim_wrapper))
    assert type(wrapper) is AGCOptimWrapper
    assert wrapper.clip_grad_kwargs['clip_factor'] == 0.02


@pytest.mark.parametrize('clip_grad,match', [
    (None, 'needs clip_grad'),
    (dict(max_norm=1.0), 'needs clip_grad'),
    (dict(type='norm', clip_factor=0.02), "'agc'"),
    (dict(clip_factor=-1.0), 'positive'),
    (dict(clip_factor=0.02, eps=0), 'positive'),
    (dict(clip_factor=0.02, max_norm=1.0), 'unknown'),
])
def test_bad_settings_fail_clearly(clip_grad, match):
    cfg = dict(_cfg(), clip_grad=clip_grad)
    with pytest.raises(ValueError, match=match):
        build_optim_wrapper(_model(), cfg)


def test_amp_counterpart_keeps_agc():
    assert amp_wrapper_type('AGCOptimWrapper') == 'AGCAmpOptimWrapper'
    assert amp_wrapper_type(None) == 'AmpOptimWrapper'
    assert amp_wrapper_type('OptimWrapper') == 'AmpOptimWrapper'
    with pytest.raises(ValueError, match='no mixed-precision counterpart'):
        amp_wrapper_type('MyWrapper')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_amp_unscales_before_clipping():
    """Under AMP the clip sees unscaled gradients: one step equals timm's
    NativeScaler (scale, unscale_, AGC, step) on the same model."""
    ours, theirs = _model().cuda(), _model().cuda()
    wrapper = build_optim_wrapper(
        ours, dict(_cfg(), type='AGCAmpOptimWrapper', loss_scale=1024.0))
    assert type(wrapper) is AGCAmpOptimWrapper
    wrapper.update_params(_cuda_loss(ours))
    optimizer = torch.optim.AdamW(theirs.parameters(), lr=1e-2,
                                  weight_decay=0.05)
    scaler = torch.cuda.amp.GradScaler(init_scale=1024.0)
    scaler.scale(_cuda_loss(theirs)).backward()
    scaler.unscale_(optimizer)
    adaptive_clip_grad(theirs.parameters(), 0.02)
    scaler.step(optimizer)
    for (name, a), b in zip(ours.state_dict().items(),
                            theirs.state_dict().values()):
        assert torch.equal(a, b), name


def _cuda_loss(model):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(4, 3, 6, 6, generator=g) * 100.0).cuda()
    return model(x).square().mean() * 100.0
