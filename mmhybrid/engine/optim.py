"""Adaptive gradient clipping (AGC, Brock et al. 2021) as mmengine optimizer
wrappers, registered in mmengine's ``OPTIM_WRAPPERS`` (so the mmpretrain,
mmdet and mmseg runners, whose registries are its children, build them too).

The clipping itself is timm's :func:`timm.utils.adaptive_clip_grad`, called
as timm's ``dispatch_clip_grad(parameters, value, mode='agc')`` calls it:
every parameter that has a gradient, each clipped unit-wise (per output row)
to ``clip_factor x max(||w||, eps)``. Config::

    optim_wrapper = dict(
        type='AGCOptimWrapper',          # or 'AGCAmpOptimWrapper'
        clip_grad=dict(clip_factor=0.02, eps=1e-3),
        optimizer=dict(type='AdamW', lr=4e-3))

``AGCAmpOptimWrapper`` unscales the gradients before clipping (mmengine's
``AmpOptimWrapper.step`` does so whenever clipping is on), as timm's
``NativeScaler`` does.
"""
import math

from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

from mmhybrid.registry import register_in

__all__ = ['AGCOptimWrapper', 'AGCAmpOptimWrapper', 'amp_wrapper_type']

_AGC_DEFAULTS = dict(eps=1e-3, norm_type=2.0)


def _agc_kwargs(clip_grad):
    """The keyword arguments of ``adaptive_clip_grad`` from a config's
    ``clip_grad`` dict, checked."""
    if not isinstance(clip_grad, dict) or 'clip_factor' not in clip_grad:
        raise ValueError(
            'an AGC optimizer wrapper needs clip_grad=dict(clip_factor=..., '
            f'eps=1e-3), got clip_grad={clip_grad!r}')
    kwargs = dict(clip_grad)
    kind = kwargs.pop('type', 'agc')
    if kind != 'agc':
        raise ValueError(f"clip_grad.type of an AGC wrapper is 'agc', got "
                         f'{kind!r} (use OptimWrapper for norm/value)')
    unknown = set(kwargs) - {'clip_factor', *_AGC_DEFAULTS}
    if unknown:
        raise ValueError(f'unknown AGC arguments {sorted(unknown)}; known: '
                         f"clip_factor, {', '.join(_AGC_DEFAULTS)}")
    for key in ('clip_factor', 'eps'):
        value = kwargs.get(key, _AGC_DEFAULTS.get(key))
        if isinstance(value, bool) or not isinstance(
                value, (int, float)) or not math.isfinite(value) or \
                value <= 0:
            raise ValueError(f'clip_grad.{key} must be a positive number, '
                             f'got {value!r}')
    return {**_AGC_DEFAULTS, **kwargs}


class _AGCMixin:
    """Replaces mmengine's norm/value clipping by AGC; the rest (gradient
    accumulation, AMP unscaling before clipping) is the base wrapper's."""

    def __init__(self, *args, clip_grad=None, **kwargs):
        agc = _agc_kwargs(clip_grad)
        super().__init__(*args, **kwargs)
        # a truthy ``clip_grad_kwargs`` makes the base ``step`` call
        # ``_clip_grad`` (after unscaling, for AMP)
        self.clip_grad_kwargs = agc

    def _clip_grad(self):
        from timm.utils import adaptive_clip_grad
        params = [p for group in self.optimizer.param_groups
                  for p in group['params']
                  if p.requires_grad and p.grad is not None]
        if params:
            adaptive_clip_grad(params, **self.clip_grad_kwargs)


class AGCOptimWrapper(_AGCMixin, OptimWrapper):
    """mmengine's ``OptimWrapper`` with adaptive gradient clipping
    (``clip_grad=dict(clip_factor, eps=1e-3, norm_type=2.0)``)."""


class AGCAmpOptimWrapper(_AGCMixin, AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` with adaptive gradient clipping on the
    unscaled gradients."""


_AMP_TYPES = {'OptimWrapper': 'AmpOptimWrapper',
              'AmpOptimWrapper': 'AmpOptimWrapper',
              'AGCOptimWrapper': 'AGCAmpOptimWrapper',
              'AGCAmpOptimWrapper': 'AGCAmpOptimWrapper'}


def amp_wrapper_type(name):
    """The mixed-precision counterpart of optimizer wrapper ``name`` (what
    ``tools/train.py --amp`` switches a config to); a clear error for a
    wrapper that has none, rather than silently dropping its policy."""
    name = name or 'OptimWrapper'
    if name not in _AMP_TYPES:
        raise ValueError(f'--amp: no mixed-precision counterpart of '
                         f'optim_wrapper.type={name!r}; known: '
                         f'{sorted(_AMP_TYPES)}')
    return _AMP_TYPES[name]


register_in(OPTIM_WRAPPERS, AGCOptimWrapper)
register_in(OPTIM_WRAPPERS, AGCAmpOptimWrapper)
