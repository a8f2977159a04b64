"""``EMAPolicyHook``: which weights are evaluated (raw, EMA, both with an
``ema/`` prefix) and which ones a checkpoint's ``state_dict`` holds; BN
buffers averaged with ``update_buffers=True``; resume restores both."""
import copy

import pytest
import torch
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.hooks import Hook
from torch.utils.data import DataLoader, TensorDataset
from tiny_runner import TinyModel

from mmhybrid.engine import EMAPolicyHook, HybridRunner
from mmhybrid.engine.safe_load import safe_load

MOMENTUM = 0.3


class MeanPred(BaseMetric):
    """The mean prediction: a number that tells two sets of weights
    apart."""

    def process(self, data_batch, data_samples):
        self.results.extend(float(p) for p in data_samples)

    def compute_metrics(self, results):
        return dict(mean=sum(results) / len(results))


class RecordBuffers(Hook):
    """The live model's BN running mean after each training step."""
    priority = 'VERY_LOW'

    def __init__(self):
        self.seen = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.seen.append(
            runner.model.net[1].running_mean.detach().clone())


def _loader():
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 4, generator=g) * 3 + 1,
                         torch.randn(16, 1, generator=g))
    return DataLoader(data, batch_size=4, collate_fn=lambda b: dict(
        x=torch.stack([i[0] for i in b]), y=torch.stack([i[1] for i in b])))


def _runner(work_dir, max_epochs, hook=None, extra_hooks=(), **kwargs):
    hook = dict(dict(type='EMAPolicyHook', momentum=MOMENTUM,
                     update_buffers=True, evaluate=('raw', 'ema'),
                     state_dict='raw'), **(hook or {}))
    torch.manual_seed(0)
    return HybridRunner(
        model=TinyModel(), work_dir=str(work_dir),
        train_dataloader=_loader(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        val_dataloader=_loader(), val_cfg=dict(),
        val_evaluator=Evaluator([MeanPred()]),
        test_dataloader=_loader(), test_cfg=dict(),
        test_evaluator=Evaluator([MeanPred()]),
        default_hooks=dict(checkpoint=dict(type='SafeCheckpointHook',
                                           interval=1)),
        custom_hooks=[hook, *extra_hooks],
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        experiment_name=f'ema{max_epochs}{len(kwargs)}{id(work_dir)}',
        **kwargs)


def _hook(runner):
    return next(h for h in runner.hooks if isinstance(h, EMAPolicyHook))


@torch.no_grad()
def _mean_pred(model):
    model = copy.deepcopy(model).eval()
    preds = [model(**b, mode='predict') for b in _loader()]
    return torch.cat(preds).mean().item()


def _ema_module(runner):
    return _hook(runner).ema_model.module


def test_state_dict_raw_holds_the_raw_weights(tmp_path):
    runner = _runner(tmp_path, 2)
    runner.train()
    ckpt = safe_load(tmp_path / 'epoch_2.pth')
    assert ckpt['meta']['state_dict_weights'] == 'raw'
    raw, ema = runner.model.state_dict(), _ema_module(runner).state_dict()
    for key, value in raw.items():
        assert torch.equal(ckpt['state_dict'][key], value), key
        assert torch.equal(ckpt['ema_state_dict'][f'module.{key}'],
                           ema[key]), key
    # the two differ (the test could tell them apart)
    assert not torch.equal(raw['net.0.weight'], ema['net.0.weight'])


def test_state_dict_ema_is_mmengine_layout(tmp_path):
    runner = _runner(tmp_path, 1, hook=dict(state_dict='ema'))
    runner.train()
    ckpt = safe_load(tmp_path / 'epoch_1.pth')
    ema = _ema_module(runner).state_dict()
    for key, value in runner.model.state_dict().items():
        assert torch.equal(ckpt['state_dict'][key], ema[key]), key
        assert torch.equal(ckpt['ema_state_dict'][f'module.{key}'],
                           value), key


@pytest.mark.parametrize('update_buffers', [True, False])
def test_bn_buffers_averaged_when_asked(tmp_path, update_buffers):
    record = RecordBuffers()
    runner = _runner(tmp_path, 1, hook=dict(update_buffers=update_buffers),
                     extra_hooks=[record])
    runner.train()
    got = _ema_module(runner).net[1].running_mean
    live = runner.model.net[1].running_mean
    if update_buffers:
        # mmengine's ExponentialMovingAverage: the first step copies, then
        # avg = (1 - m) avg + m src (timm ModelEma: decay = 1 - m)
        expected = record.seen[0].clone()
        for src in record.seen[1:]:
            expected = (1 - MOMENTUM) * expected + MOMENTUM * src
        torch.testing.assert_close(got, expected)
        assert not torch.allclose(got, live)
    else:
        assert torch.equal(got, live)


def test_both_evaluations_logged_under_their_names(tmp_path):
    runner = _runner(tmp_path, 2)
    runner.train()
    hub = runner.message_hub
    raw = hub.get_scalar('val/mean').current()
    ema = hub.get_scalar('val/ema/mean').current()
    assert raw == pytest.approx(_mean_pred(runner.model))
    assert ema == pytest.approx(_mean_pred(_ema_module(runner)))
    assert raw != pytest.approx(ema)
    # the raw model is back in place after the EMA pass
    assert _mean_pred(runner.model) == pytest.approx(raw)
    logs = (tmp_path / runner.timestamp / 'vis_data' /
            'scalars.json').read_text()
    assert '"ema/mean"' in logs and '"mean"' in logs


def test_evaluate_ema_only_is_mmengine_behaviour(tmp_path):
    runner = _runner(tmp_path, 1, hook=dict(evaluate='ema'))
    runner.train()
    hub = runner.message_hub
    assert hub.get_scalar('val/mean').current() == pytest.approx(
        _mean_pred(_ema_module(runner)))
    assert 'val/ema/mean' not in hub.log_scalars


@pytest.mark.parametrize('state_dict', ['raw', 'ema'])
def test_resume_restores_both(tmp_path, state_dict):
    """1 epoch + resume + 1 epoch ends where 2 epochs in one run end, for
    the raw weights and the EMA alike."""
    hook = dict(state_dict=state_dict)
    straight = _runner(tmp_path / 'a', 2, hook=hook)
    straight.train()
    first = _runner(tmp_path / 'b', 1, hook=hook)
    first.train()
    resumed = _runner(tmp_path / 'b', 2, hook=hook, resume=True)
    resumed.train()
    for name, model in (('raw', lambda r: r.model), ('ema', _ema_module)):
        want, got = model(straight).state_dict(), model(resumed).state_dict()
        for key in want:
            torch.testing.assert_close(got[key], want[key], msg=f'{name} '
                                       f'{key}')


def test_test_of_a_checkpoint_evaluates_both(tmp_path):
    trained = _runner(tmp_path / 'a', 2)
    trained.train()
    tester = _runner(tmp_path / 'b', 1,
                     load_from=str(tmp_path / 'a' / 'epoch_2.pth'))
    metrics = tester.test()
    assert metrics['mean'] == pytest.approx(_mean_pred(trained.model))
    assert metrics['ema/mean'] == pytest.approx(
        _mean_pred(_ema_module(trained)))


def test_checkpoint_without_ema_evaluates_once(tmp_path):
    trained = _runner(tmp_path / 'a', 1)
    trained.train()
    ckpt = safe_load(tmp_path / 'a' / 'epoch_1.pth')
    plain = {k: v for k, v in ckpt.items() if k != 'ema_state_dict'}
    plain['meta'] = {k: v for k, v in plain['meta'].items()
                     if k != 'state_dict_weights'}
    torch.save(plain, tmp_path / 'plain.pth')
    tester = _runner(tmp_path / 'b', 1, load_from=str(tmp_path / 'plain.pth'))
    metrics = tester.test()
    assert 'mean' in metrics and 'ema/mean' not in metrics


@pytest.mark.parametrize('kwargs,match', [
    (dict(evaluate=()), 'evaluate'),
    (dict(evaluate=('raw', 'raw')), 'evaluate'),
    (dict(evaluate='swa'), 'evaluate'),
    (dict(state_dict='best'), 'state_dict'),
])
def test_bad_settings_fail_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EMAPolicyHook(**kwargs)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_found_from_every_framework_scope(scope):
    import importlib
    registry = importlib.import_module(f'{scope}.registry')
    assert registry.HOOKS.get('EMAPolicyHook') is EMAPolicyHook
