"""CPU bf16 inference for whole models (detectors, segmentors, classifiers).

The mechanism, in two parts:

1. the whole ``test_step``/``predict`` runs under CPU bf16 autocast
   (:func:`bf16_autocast`, or mmengine's ``TestLoop`` with ``fp16=True``,
   which on CPU is bf16). Autocast lowers only the matmul-type ops
   (convolution, linear, bmm, ...) to bf16; elementwise math follows the
   dtype of its inputs.
2. :func:`enable_bf16` puts forward hooks on the *islands*, the parts whose
   convolutions and linears do the work (backbone, neck, the dense heads, the
   RoI heads' ``bbox_head``/``mask_head``, mmseg decode heads' ``conv_seg``,
   mmpretrain's ``head``; which module of each part:
   :data:`mmhybrid.deploy.parts.ROLES`): each casts every floating tensor of
   its output back to float32.

So everything between the islands (anchor generation, box decoding, NMS,
RoIAlign, mask pasting, the resize of the seg logits, softmax) sees float32
inputs and runs in float32, as mmcv's ops require (its NMS and RoIAlign
refuse bf16).

Example::

    from mmhybrid.deploy import bf16_autocast, enable_bf16, switch_to_deploy
    switch_to_deploy(model)   # optional; before enable_bf16
    enable_bf16(model)
    with torch.no_grad(), bf16_autocast():
        results = model.test_step(data)

``tools/test.py --bf16`` and ``tools/inference.py --bf16`` do this
(:class:`mmhybrid.engine.InferenceFormHook`,
:class:`mmhybrid.apis.ImagePredictor`).
"""
from contextlib import contextmanager

import torch
import torch.nn as nn

from .parts import model_parts

__all__ = ['bf16_autocast', 'bf16_islands', 'enable_bf16', 'to_float32']

_HANDLE = '_mmhybrid_bf16_hook'


def to_float32(value):
    """``value`` with every floating tensor in it (nested tuples, lists and
    dicts) as float32; anything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, tuple) and hasattr(value, '_fields'):  # namedtuple
        return type(value)(*(to_float32(v) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(to_float32(v) for v in value)
    if isinstance(value, dict):
        return type(value)((k, to_float32(v)) for k, v in value.items())
    return value


def _float32_outputs(module, args, outputs):
    # with always_call=True this also runs when forward raised (outputs None)
    return None if outputs is None else to_float32(outputs)


def bf16_islands(model):
    """``[(name, module)]``: the modules of ``model`` that
    :func:`enable_bf16` hooks, one per part whose role has one (its
    ``bf16`` in :data:`~mmhybrid.deploy.parts.ROLES`: the part itself, or
    a decode head's ``conv_seg``, since mmseg's decode heads are not called
    through ``__call__`` at inference), in the model's order."""
    found = []
    for part in model_parts(model):
        child = part.traits.bf16
        if child is None:
            continue
        if not child:
            found.append((part.name, part.module))
        elif isinstance(getattr(part.module, child, None), nn.Module):
            found.append((f'{part.name}.{child}',
                          getattr(part.module, child)))
    return found


def _check_cpu(model):
    devices = {p.device.type for p in model.parameters()}
    if devices - {'cpu'}:
        raise ValueError(
            'bf16 inference is a CPU mode: the model is on '
            f'{sorted(devices - {"cpu"})}. On a GPU use mmengine\'s fp16 '
            'test (test_cfg.fp16=True) instead, or move the model to the CPU.')


def enable_bf16(model):
    """Prepare a built (and loaded; deploy form or not) mmdet/mmseg/
    mmpretrain model for CPU bf16 inference, in place: forward hooks on its
    islands (:func:`bf16_islands`) cast their outputs back to float32. The
    model must then run under :func:`bf16_autocast` (or mmengine's
    ``TestLoop`` with ``fp16=True``); without autocast it computes as
    before. Idempotent. Call :func:`~mmhybrid.deploy.switch_to_deploy` first
    if both are wanted (deploy may replace modules).

    Returns the island names. Raises ``ValueError`` when the model is not on
    the CPU, or when it has no island (not a model of the OpenMMLab
    frameworks: nothing would stop bf16 tensors from reaching mmcv's ops).
    """
    _check_cpu(model)
    islands = bf16_islands(model)
    if not islands:
        raise ValueError(
            f'enable_bf16: {type(model).__name__} has no submodule to run in '
            'bf16 (no backbone, neck or head); it is not an '
            'mmdet/mmseg/mmpretrain model.')
    for _, module in islands:
        if getattr(module, _HANDLE, None) is None:
            handle = module.register_forward_hook(_float32_outputs,
                                                  always_call=True)
            # set through __dict__: a hook handle is not a module attribute
            module.__dict__[_HANDLE] = handle
    return [name for name, _ in islands]


@contextmanager
def bf16_autocast(enabled=True):
    """CPU bf16 autocast for callers that run ``predict``/``test_step``
    themselves (``torch.autocast('cpu', dtype=torch.bfloat16)``)."""
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=enabled):
        yield
