"""An EMA hook whose policy a config chooses: which weights validation and
test evaluate (the raw model, the EMA, or both), and which weights a
checkpoint's ``state_dict`` holds. Registered in mmengine's ``HOOKS``.

mmengine's :class:`~mmengine.hooks.EMAHook` always evaluates the EMA and
saves it as ``state_dict`` (the raw weights go to ``ema_state_dict``). Many
upstream recipes (timm's ``ModelEma`` in DeiT-style ``main.py`` scripts)
track an EMA but evaluate and release the raw model; this hook reproduces
either. The averaging is mmengine's (``ExponentialMovingAverage``:
``averaged = (1 - momentum) * averaged + momentum * source``, i.e. timm's
``decay = 1 - momentum``); ``update_buffers=True`` averages the buffers
(BN statistics) too, as timm's ``ModelEma`` does. Config::

    custom_hooks = [dict(type='EMAPolicyHook', momentum=4e-5,
                         update_buffers=True, evaluate=('raw', 'ema'),
                         state_dict='raw')]

With two evaluations, the first is the loop's own (metrics unprefixed); the
second runs the loop's dataloader and evaluator again with the other
weights, and its metrics are logged and returned under the prefix
``'<ema|raw>/'`` (``ema/accuracy/top1``), so ``save_best`` can name them.
"""
import copy
import logging

import torch
from mmengine.hooks import EMAHook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import autocast

from mmhybrid.registry import register_in

__all__ = ['EMAPolicyHook']

_WEIGHTS = ('raw', 'ema')
#: where the checkpoint says which weights its ``state_dict`` holds
_META_KEY = 'state_dict_weights'


def _is_scalar(value):
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class EMAPolicyHook(EMAHook):
    """mmengine's ``EMAHook`` with a choice of what is evaluated and saved.

    Args:
        evaluate (str | tuple[str]): ``'raw'``, ``'ema'`` or both, in the
            order evaluated; the second one's metrics get the prefix
            ``'<name>/'``. Defaults to ``('ema',)`` (mmengine's behaviour).
        state_dict (str): which weights the checkpoint's ``state_dict``
            holds, ``'raw'`` or ``'ema'`` (mmengine's behaviour, default);
            the other ones go to ``ema_state_dict`` as mmengine stores them,
            so resume restores both.
        **kwargs: ``EMAHook``'s (``ema_type``, ``momentum``,
            ``update_buffers``, ``interval``, ``begin_iter``, ...).
    """

    priority = 'ABOVE_NORMAL'  # before LoggerHook and CheckpointHook

    def __init__(self, evaluate=('ema', ), state_dict='ema', **kwargs):
        evaluate = (evaluate, ) if isinstance(evaluate, str) else \
            tuple(evaluate)
        if not evaluate or len(set(evaluate)) != len(evaluate) or \
                not set(evaluate) <= set(_WEIGHTS):
            raise ValueError(
                "evaluate must be 'raw', 'ema', or both (each once, in the "
                f'order to evaluate), got {evaluate!r}')
        if state_dict not in _WEIGHTS:
            raise ValueError(
                f"state_dict must be 'raw' or 'ema', got {state_dict!r}")
        super().__init__(**kwargs)
        self.evaluate = evaluate
        self.state_dict = state_dict

    # -- evaluation ----------------------------------------------------------
    def before_val_epoch(self, runner):
        if self.evaluate[0] == 'ema':
            self._swap_ema_parameters()

    def after_val_epoch(self, runner, metrics=None):
        if self.evaluate[0] == 'ema':
            self._swap_ema_parameters()
        if len(self.evaluate) > 1:
            self._evaluate_again(runner, runner.val_loop, 'val', metrics)

    def before_test_epoch(self, runner):
        self.before_val_epoch(runner)

    def after_test_epoch(self, runner, metrics=None):
        if self.evaluate[0] == 'ema':
            self._swap_ema_parameters()
        if len(self.evaluate) > 1:
            self._evaluate_again(runner, runner.test_loop, 'test', metrics)

    def _evaluate_again(self, runner, loop, mode, metrics):
        """Run ``loop``'s dataloader and evaluator with the other weights;
        add its metrics to ``metrics`` and to the message hub (the runtime
        info hook, which runs first, has already logged the loop's own)."""
        other = self.evaluate[1]
        if getattr(self, '_ema_is_copy', False):
            print_log(f'{mode}: the checkpoint has no EMA weights; the '
                      f'{other}/ evaluation would repeat the same weights '
                      'and is skipped', 'current', logging.WARNING)
            return
        if other == 'ema':
            self._swap_ema_parameters()
        try:
            extra = self._run_loop(runner, loop, mode)
        finally:
            if other == 'ema':
                self._swap_ema_parameters()
        for key, value in extra.items():
            name = f'{other}/{key}'
            if metrics is not None:
                if name in metrics:
                    raise KeyError(f'metric {name!r} already exists; '
                                   f'EMAPolicyHook would overwrite it')
                metrics[name] = value
            if _is_scalar(value):
                runner.message_hub.update_scalar(f'{mode}/{name}', value)
            else:
                runner.message_hub.update_info(f'{mode}/{name}', value)

    @torch.no_grad()
    def _run_loop(self, runner, loop, mode):
        from mmengine.runner.loops import _update_losses
        step = runner.model.val_step if mode == 'val' else \
            runner.model.test_step
        runner.model.eval()
        for data_batch in loop.dataloader:
            with autocast(enabled=getattr(loop, 'fp16', False)):
                outputs = step(data_batch)
            outputs, _ = _update_losses(outputs, {})
            loop.evaluator.process(data_samples=outputs, data_batch=data_batch)
        return loop.evaluator.evaluate(len(loop.dataloader.dataset))

    # -- checkpoints ---------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint['ema_state_dict'] = self.ema_model.state_dict()
        if self.state_dict == 'ema':
            self._swap_ema_state_dict(checkpoint)
        checkpoint.setdefault('meta', {})[_META_KEY] = self.state_dict

    def after_load_checkpoint(self, runner, checkpoint):
        """Resume, or evaluation (test/val without training) of a checkpoint
        that has an EMA: the raw weights go to the model and the EMA to the
        EMA model, whichever one ``state_dict`` holds (a checkpoint without
        the policy's mark is mmengine ``EMAHook``'s, whose ``state_dict``
        holds the EMA). Otherwise (``load_from`` in training, a checkpoint
        without EMA) the EMA starts as a copy of ``state_dict``, as in
        mmengine."""
        from mmengine.runner import BaseLoop
        from mmengine.runner.checkpoint import load_state_dict
        training = isinstance(getattr(runner, '_train_loop', None), BaseLoop)
        if 'ema_state_dict' in checkpoint and (runner._resume
                                               or not training):
            holds = (checkpoint.get('meta') or {}).get(_META_KEY, 'ema')
            if holds == 'ema':
                self._swap_ema_state_dict(checkpoint)
                checkpoint.setdefault('meta', {})[_META_KEY] = 'raw'
            self.ema_model.load_state_dict(
                checkpoint['ema_state_dict'], strict=self.strict_load)
            self._ema_is_copy = False
            return
        # evaluating a checkpoint without EMA: the EMA is the same weights
        self._ema_is_copy = not training and not runner._resume
        if runner._resume:
            print_log(
                'There is no `ema_state_dict` in checkpoint. `EMAPolicyHook` '
                'will make a copy of `state_dict` as the initial '
                '`ema_state_dict`', 'current', logging.WARNING)
        load_state_dict(self.ema_model.module,
                        copy.deepcopy(checkpoint['state_dict']),
                        strict=self.strict_load)


register_in(HOOKS, EMAPolicyHook)
