"""The OpenMMLab backbone contract, written once for every mmhybrid backbone:
``out_indices`` / ``frozen_stages`` checks, freezing, ``norm_eval``,
``with_cp``, ``feature_info``, ``init_cfg=dict(type='Pretrained', ...)``
through the checked loader (no silent partial loads) and
``switch_to_deploy()``."""
import copy

import torch
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ...deploy import deploy_backbone
from ..utils import load_pretrained


class BackboneArgumentError(ValueError):
    """A backbone argument of the contract (``arch``, ``out_indices``,
    ``frozen_stages``) that the backbone cannot take: a user's config
    mistake. ``argument`` names it and ``value`` is what was given, so that
    the config loader can name the key (``model.backbone.arch``)."""

    def __init__(self, message, argument=None, value=None):
        super().__init__(message)
        self.argument = argument
        self.value = value


class HybridBackbone(BaseModule):
    """Base class of mmhybrid's backbones.

    Subclasses set ``self.out_indices``, ``self.frozen_stages``,
    ``self.norm_eval`` and ``self.with_cp``, implement :meth:`stages`,
    :meth:`stage_info` (channels and stride of every out index, from which
    :attr:`feature_info` follows) and :meth:`_frozen_modules`; they may
    override :meth:`_convert_pretrained` (checkpoint layout -> own key
    names) and :meth:`_allowed_missing` (keys a pretrained checkpoint may
    lack). Attention modules pass their maps through
    :class:`~mmhybrid.models.layers.AttentionMap` (see
    ``docs/adding_a_family.md``).
    Variants are data: ``arch_zoo`` maps names to arch dicts and
    ``arch_keys`` maps every key a custom arch dict needs to its required
    length (``None``: any value).
    """
    arch_zoo = {}
    arch_keys = {}
    deploy = False
    #: The arch name of ``arch_zoo`` this model was built from (None for a
    #: custom arch dict); set by :meth:`_resolve_arch`.
    arch_name = None
    #: The timm model of the same architecture, as a format string of
    #: ``arch`` (e.g. ``'shvit_{arch}'``), or None. Read by the benchmark's
    #: ``--compare-timm`` through :meth:`timm_counterpart`.
    timm_name = None
    #: ``state_dict -> state_dict`` from the upstream (official/timm)
    #: checkpoint layouts to ours, or None when ours is the only layout. Used
    #: by ``init_cfg`` Pretrained and the checkpoint converters.
    convert_checkpoint = None
    #: ``state_dict -> state_dict`` from an upstream *classifier* checkpoint
    #: (backbone and head, e.g. the released ImageNet weights) to the keys of
    #: mmhybrid's MMPretrain ``ImageClassifier`` (``backbone.*``,
    #: ``head.*``); returns None for a layout it does not convert (ours
    #: included). Used by every whole-model load of a classifier with this
    #: backbone (``mmpretrain.get_model(..., pretrained=)``, ``load_from``,
    #: ``tools/test.py``) through
    #: :func:`mmhybrid.models.utils.upgrade_classifier_checkpoint`.
    convert_classifier_checkpoint = None
    #: The family's :class:`~mmhybrid.models.utils.ClassifierConverter` s
    #: (one per upstream classifier layout), declared in its model file;
    #: ``tools/model_converters/convert.py`` finds them through the registry.
    classifier_converters = ()

    def _resolve_arch(self, arch):
        """An arch name of ``arch_zoo`` or a custom dict -> a checked copy;
        records :attr:`arch_name`."""
        cls = type(self)
        name = cls.__name__
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise BackboneArgumentError(
                    f'Unknown {name} arch {arch!r}; valid archs are '
                    f'{sorted(cls.arch_zoo)} or a dict with keys '
                    f'{", ".join(sorted(cls.arch_keys))}.', 'arch', arch)
            self.arch_name = arch.lower()
            return copy.deepcopy(cls.arch_zoo[arch.lower()])
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or dict, got {type(arch)}')
        missing = set(cls.arch_keys) - set(arch)
        if missing:
            raise BackboneArgumentError(
                f'Custom {name} arch lacks keys {sorted(missing)} (needs '
                f'{sorted(cls.arch_keys)})', 'arch', arch)
        for key, n in cls.arch_keys.items():
            if n is not None and len(arch[key]) != n:
                raise BackboneArgumentError(
                    f'arch[{key!r}] must have {n} entries, got {arch[key]}',
                    'arch', arch)
        return copy.deepcopy(arch)

    def _init_contract(self, arch, out_indices, frozen_stages, norm_eval,
                       with_cp, what, num_outs=None, num_frozen=None):
        """Resolve and store ``arch`` (:attr:`arch`, :attr:`arch_name`) and
        check and store the contract arguments; returns the arch dict.

        ``num_outs`` (default ``num_stages``) is the number of possible out
        indices, ``num_frozen`` (default ``num_outs``) the largest
        ``frozen_stages``; ``what`` names the indices in error messages.
        """
        self.arch = self._resolve_arch(arch)
        num_outs = num_outs or self.num_stages
        self.out_indices = self._check_indices(
            out_indices, frozen_stages, num_outs,
            num_outs if num_frozen is None else num_frozen, what)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        return self.arch

    @staticmethod
    def _check_indices(out_indices, frozen_stages, num_outs, num_frozen,
                       what):
        """Validate ``out_indices`` (negative ones count from the end) and
        ``frozen_stages``; returns ``out_indices`` as a tuple."""
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        out_indices = [i + num_outs if i < 0 else i for i in out_indices]
        for i in out_indices:
            if not 0 <= i < num_outs:
                raise BackboneArgumentError(
                    f'out_indices must be in [0, {num_outs - 1}] ({what}), '
                    f'got {list(out_indices)}', 'out_indices')
        if not -1 <= frozen_stages <= num_frozen:
            raise BackboneArgumentError(
                f'frozen_stages must be in [-1, {num_frozen}], got '
                f'{frozen_stages}', 'frozen_stages', frozen_stages)
        return tuple(out_indices)

    def stages(self):
        """The stage modules in forward order (each a sequence of blocks)."""
        raise NotImplementedError

    def stage_info(self):
        """The facts of every possible out index, in index order: a list of
        ``dict(num_chs=int, reduction=int, module=str)`` (channels, stride
        w.r.t. the input, and the module whose output it is)."""
        raise NotImplementedError

    def extra_feature_info(self):
        """Facts of the maps ``forward`` appends after the ``out_indices``
        outputs (e.g. CSWin's stage-3 taps), in order; none by default."""
        return []

    @property
    def feature_info(self):
        """timm-style ``feature_info``: one ``dict(num_chs, reduction,
        module)`` per element of the tuple ``forward`` returns, in order.

        ``reduction`` is the nominal stride: a side of ``S`` pixels gives
        ``S / reduction`` rounded (up or down, as the family's strided
        convolutions round) when ``S`` is not a multiple of it.
        """
        stages = self.stage_info()
        return [dict(stages[i]) for i in self.out_indices] + \
            [dict(f) for f in self.extra_feature_info()]

    def timm_counterpart(self):
        """The timm model name of this architecture, or None."""
        if self.timm_name is None or self.arch_name is None:
            return None
        return self.timm_name.format(arch=self.arch_name)

    def default_cam_layer(self):
        """The Grad-CAM target layer: the last block of the last stage
        (stages run block by block, so a block is what can be hooked)."""
        layer = self.stages()[-1]
        while isinstance(layer, (torch.nn.Sequential, torch.nn.ModuleList)):
            layer = layer[-1]
        return layer

    def _frozen_modules(self):
        """The modules ``frozen_stages`` freezes (-1: none)."""
        raise NotImplementedError

    def _freeze_stages(self):
        if self.frozen_stages < 0:
            return
        for m in self._frozen_modules():
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def switch_to_deploy(self):
        """Turn the model into its inference form, in place, by the module
        passes of :mod:`mmhybrid.deploy`; in eval mode the outputs are
        unchanged (up to float rounding).

        Every BatchNorm is folded into its convolution (modules with a
        ``fuse()`` method fold themselves, e.g. SHViT's depthwise residuals
        into one conv), a ReLU/SiLU or residual add that follows a
        convolution runs inside it
        (:class:`~mmhybrid.deploy.FusedConv2d`: one oneDNN kernel with
        packed weights on CPU), weights and activations are channels-last.
        Outputs stay contiguous NCHW (mmcv's ops, e.g. RoIAlign, assume it).
        Not for training: the BN statistics are gone.
        """
        deploy_backbone(self)

    def _checkpointed(self, module, x, *args):
        """``module(x, *args)``, gradient-checkpointed when ``with_cp``."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(module, x, *args, use_reentrant=False)
        return module(x, *args)

    def _run_sequential(self, modules, x):
        """Run ``modules`` in turn, each checkpointed when ``with_cp``;
        without ``with_cp`` a stage (an ``nn.Module``) is called as a whole,
        so that its deploy form (what its ``fuse()`` returned, e.g. a
        :class:`~mmhybrid.deploy.BatchChunked`) runs as such."""
        if not self.with_cp and isinstance(modules, torch.nn.Module):
            return modules(x)
        for module in modules:
            x = self._checkpointed(module, x)
        return x

    def _convert_pretrained(self, state_dict):
        if self.convert_checkpoint is None:
            return state_dict
        return type(self).convert_checkpoint(state_dict)

    def _allowed_missing(self):
        return ()

    def load_pretrained_if_asked(self):
        """Serve ``init_cfg=dict(type='Pretrained', checkpoint=...,
        prefix=...)`` with the checked loader; returns whether it did."""
        if not (isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            return False
        load_pretrained(self, self.init_cfg, self._convert_pretrained,
                        allowed_missing=self._allowed_missing())
        self._is_init = True
        return True

    def init_weights(self):
        if not self.load_pretrained_if_asked():
            super().init_weights()
