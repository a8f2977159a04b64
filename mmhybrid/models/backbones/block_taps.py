"""A wrapper that gives any backbone the output layout of a Gramian-attention
head: the raw outputs of chosen submodules (its stages), followed by the raw
outputs of chosen blocks of one stage (the taps).

MMPretrain's own backbones (ConvNeXt, ResNet, ...) return normed or selected
stage outputs and no block outputs; ``BlockTaps`` records what the head needs
with forward hooks on the named submodules, so the backbone itself is built,
initialised and loaded unchanged (its keys sit under ``backbone.``).
"""
import torch.nn as nn
from mmengine.model import BaseModule

from ...registry import register_model
from ...deploy import deploy_backbone

_RECORD = '_block_taps_output'


def _record_output(module, inputs, output):
    # stored on the module itself, so a deep copy (e.g. EMA) records its own
    setattr(module, _RECORD, output)


@register_model
class BlockTaps(BaseModule):
    """Run ``backbone`` and return the outputs of the submodules named in
    ``stages`` (or, with ``stages=None``, the backbone's own outputs) then
    of those named in ``taps``, each a contiguous NCHW map.

    Example (GA-ConvNeXt-T: the four raw stage outputs and stage 3 after its
    blocks 3 and 6)::

        backbone=dict(
            type='BlockTaps',
            backbone=dict(type='ConvNeXt', arch=..., out_indices=()),
            stages=('stages.0', 'stages.1', 'stages.2', 'stages.3'),
            taps=('stages.2.2', 'stages.2.5'))

    ``out_indices=()`` keeps MMPretrain's ConvNeXt from building its output
    norms, which the head does not use.

    Args:
        backbone (dict): config of the wrapped backbone, built in
            MMPretrain's registry (a scope prefix such as ``'mmdet.'``
            selects another).
        stages (Sequence[str] | None): submodule paths
            (``backbone.get_submodule``) whose outputs come first, fine to
            coarse; None: the backbone's own outputs (e.g. the NCHW maps of
            MMPretrain's VisionTransformer with ``out_type='featmap'``).
        taps (Sequence[str]): submodule paths whose outputs follow.
            Defaults to ().
        init_cfg (dict, optional): of the wrapper (prefix its keys with
            ``backbone.``); the wrapped backbone keeps its own.
    """

    def __init__(self, backbone, stages, taps=(), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        from mmengine.registry import DefaultScope
        from mmpretrain.registry import MODELS

        # in MMPretrain's scope whatever the caller's default scope is (an
        # mmdet/mmseg run sets its own process-wide)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            self.backbone = MODELS.build(backbone)
        self.own_outputs = stages is None
        self.stages = () if stages is None else tuple(stages)
        self.taps = tuple(taps)
        if not self.own_outputs and not self.stages:
            raise ValueError('BlockTaps needs stages (or stages=None)')
        self._attach_hooks()

    def _attach_hooks(self):
        """Hook every named submodule once (again after a deploy pass that
        replaced some of them)."""
        for path in dict.fromkeys(self.stages + self.taps):
            try:
                module = self.backbone.get_submodule(path)
            except AttributeError as e:
                raise ValueError(
                    f'{type(self.backbone).__name__} has no submodule '
                    f'{path!r}') from e
            if _record_output not in module._forward_hooks.values():
                module.register_forward_hook(_record_output)

    def forward(self, x):
        for path in self.stages + self.taps:
            self.backbone.get_submodule(path).__dict__.pop(_RECORD, None)
        own = self.backbone(x)
        outs = [o.contiguous() for o in own] if self.own_outputs else []
        for path in self.stages + self.taps:
            out = getattr(self.backbone.get_submodule(path), _RECORD, None)
            if out is None:
                raise RuntimeError(f'{path!r} did not run in the forward of '
                                   f'{type(self.backbone).__name__}')
            outs.append(out.contiguous())
        for path in self.stages + self.taps:
            self.backbone.get_submodule(path).__dict__.pop(_RECORD, None)
        return tuple(outs)

    def switch_to_deploy(self):
        """The backbone's deploy form (:func:`deploy_backbone` on the
        wrapper); the taps stay hooked."""
        deploy_backbone(self)
        self._attach_hooks()
