"""CSWin Transformer backbone (Dong et al., CVPR 2022).

Module and parameter names follow the official CSWin code
(``stage1_conv_embed``, ``stage1..4``, ``merge1..3``, ``norm1..4``; inside a
block ``qkv``, ``proj``, ``attns.{0,1}.get_v``, ``norm1``/``norm2``,
``mlp.fc1``/``mlp.fc2``), so the official segmentation-backbone and ImageNet
checkpoints load unchanged; other layouts go through :func:`cswin_convert`
(this file's converter).

Unlike the official ImageNet model the attention works for any input size:
when a side is not a multiple of the stripe width, q/k/v are zero-padded
symmetrically after the ``qkv`` Linear, the stripes run without a mask and
the result is cropped back (as the official segmentation backbone does).

Its blocks (``CSWinBlock``) live in :mod:`mmhybrid.models.layers.cswin_block`:
the Gramian-attention head (:class:`mmhybrid.models.GAHead`) uses them too.
"""
import re
from collections import OrderedDict

import torch
import torch.nn as nn
from mmdet.models.layers import nchw_to_nlc, nlc_to_nchw
from mmpretrain.models.utils import LayerNorm2d

from ...registry import register_model
from ..layers.cswin_block import CSWinBlock, LePEAttention, Mlp
from ..layers.weight_init import init_transformer_weights
from ..utils.ckpt_convert import strip_prefix
from .base import HybridBackbone

__all__ = ['CSWin', 'CSWinBlock', 'LePEAttention', 'Mlp', 'cswin_convert',
           'cswin_layout', 'cswin_out_norm_keys']

# Checkpoint layouts (read by ``CSWin.convert_checkpoint``): mmhybrid keeps
# the official names (segmentation backbone and ImageNet classifier share
# them; the classifier adds ``norm``/``head`` and lacks the per-output
# ``norm1..norm4``). The GA-CSWin classifier's converter is the GA family's
# (:mod:`mmhybrid.models.heads.ga_head`).
_CSWIN_OUT_NORM = re.compile(r'norm[1-4]\.(weight|bias)$')


def cswin_out_norm_keys(state_dict):
    """The keys of the per-output LayerNorms ``norm1..norm4`` (top level
    only; the blocks' own ``stageK.j.norm1`` do not count)."""
    return [k for k in state_dict if _CSWIN_OUT_NORM.match(k)]


def cswin_layout(state_dict):
    """Return 'mmhybrid' (``backbone.`` prefixed, as saved by
    mmseg/mmdet/mmpretrain), 'imagenet' (official classifier: ``head``, no
    ``norm1..norm4``) or 'backbone' (official segmentation backbone)."""
    if any(k.startswith('backbone.') for k in state_dict):
        return 'mmhybrid'
    if not cswin_out_norm_keys(state_dict) and (
            'head.weight' in state_dict or 'norm.weight' in state_dict):
        return 'imagenet'
    return 'backbone'


def cswin_convert(state_dict):
    """Any supported CSWin layout -> the official backbone names used by
    :class:`CSWin`. Official layouts pass unchanged (an ImageNet checkpoint
    keeps ``norm``/``head``, which the backbone skips); from
    ``backbone.``-prefixed checkpoints only the backbone is kept."""
    if cswin_layout(state_dict) == 'mmhybrid':
        return strip_prefix(state_dict, 'backbone.')
    return OrderedDict(state_dict)



class MergeBlock(nn.Module):
    """3x3 stride-2 conv (C -> C') then LayerNorm, on tokens."""

    def __init__(self, dim, dim_out):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim_out, 3, 2, 1)
        self.norm = nn.LayerNorm(dim_out)

    def forward(self, x, hw_shape):
        x = self.conv(nlc_to_nchw(x, hw_shape))
        return self.norm(nchw_to_nlc(x)), tuple(x.shape[2:])


class ChannelsLast(nn.Module):
    """B, C, H, W -> B, H, W, C (the official ``Rearrange`` of the stem)."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1)


def build_stem(stem, in_channels, embed_dim):
    """Stride-4 stem ending channels-last (B, H, W, C) after a LayerNorm.

    '7x7': CSWin's 7x7 stride-4 conv (with bias); keys ``0`` (conv) and
    ``2`` (LayerNorm) as in the official checkpoints.
    'deep': the 3-conv stem GA-CSWin's class defaults to (GA/ga_cswin.py
    of Lab-LVM/imagenet-models, lines 462-477: 3x3 s2 conv, LN, GELU, 3x3 s1
    conv, LN, GELU, 3x3 s2 conv, LN; convs without bias, ``embed_dim``
    inner channels, as upstream's ``embed_dim=64``). An arch variant of the
    stem, not weight-compatible with the official CSWin checkpoints.
    """
    if stem == '7x7':
        return nn.Sequential(
            nn.Conv2d(in_channels, embed_dim, 7, 4, 2), ChannelsLast(),
            nn.LayerNorm(embed_dim))
    if stem == 'deep':
        mid = embed_dim
        # mmpretrain's LayerNorm2d: nn.LayerNorm (eps 1e-5) over channels
        return nn.Sequential(
            nn.Conv2d(in_channels, mid, 3, 2, 1, bias=False),
            LayerNorm2d(mid), nn.GELU(),
            nn.Conv2d(mid, mid, 3, 1, 1, bias=False),
            LayerNorm2d(mid), nn.GELU(),
            nn.Conv2d(mid, embed_dim, 3, 2, 1, bias=False), ChannelsLast(),
            nn.LayerNorm(embed_dim))
    raise ValueError(f"stem must be '7x7' or 'deep', got {stem!r}")


@register_model
class CSWin(HybridBackbone):
    """CSWin Transformer backbone.

    Four stages at strides 4, 8, 16 and 32; every returned map is NCHW.

    Args:
        arch (str | dict): 't', 's' or a dict with keys ``embed_dims``,
            ``depths``, ``num_heads`` and ``split_sizes`` (4 entries each).
        in_channels (int): input channels. Defaults to 3.
        stem (str): '7x7' (CSWin, loads the official checkpoints) or 'deep'
            (the 3-conv stem variant of the GA paper, not weight-compatible).
            Defaults to '7x7'.
        mlp_ratio (float): MLP hidden ratio. Defaults to 4.
        drop_path_rate (float): stochastic depth, rising linearly over all
            blocks to this value. Defaults to 0.
        out_indices (Sequence[int]): stages whose outputs are returned
            (0..3 = strides 4/8/16/32). Defaults to (0, 1, 2, 3).
        out_norm (bool): build ``norm{i+1}`` for every ``i`` in
            ``out_indices`` and apply it to the returned stage maps, as the
            official segmentation backbone (and mmseg's Swin) do; False
            returns the raw stage outputs, for a head that normalises or
            aggregates them itself. Defaults to True.
        taps (dict, optional): extra outputs, ``dict(stage=i, blocks=(j,
            ...))``: the outputs of blocks ``self.stages()[i][j]`` (0-based,
            negative counts from the end), appended after the stage outputs
            in the order given, as NCHW maps at that stage's stride, never
            normed. ``dict(stage=2, blocks=(3, 7, 11, 15))`` taps stage 3 of
            arch 't' after its blocks 4, 8, 12 and 16. Defaults to None.
        frozen_stages (int): -1 freezes nothing, 0 the stem, k >= 1 the stem,
            stages 1..k, the merges before them and their output norms.
            Defaults to -1.
        norm_eval (bool): keep BatchNorms (there are none in the backbone) in
            eval mode while training. Defaults to False.
        with_cp (bool): gradient checkpointing of every block.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH,
            prefix=None)`` loads an official CSWin segmentation backbone
            (all keys), an official CSWin ImageNet checkpoint (weights under
            ``'state_dict_ema'``, ``'state_dict'`` or ``'model'``; its
            ``norm``/``head`` are skipped and ``norm1..norm4`` keep their
            initialisation, both reported) or an mmseg/mmdet/mmhybrid
            checkpoint with ``backbone.`` keys.

    ``out_channels`` and ``feature_info`` give the channels and stride of
    every returned map, taps included.
    """
    arch_zoo = {
        't': dict(embed_dims=[64, 128, 256, 512], depths=[1, 2, 21, 1],
                  num_heads=[2, 4, 8, 16], split_sizes=[1, 2, 7, 7]),
        's': dict(embed_dims=[64, 128, 256, 512], depths=[2, 4, 32, 2],
                  num_heads=[2, 4, 8, 16], split_sizes=[1, 2, 7, 7]),
    }
    arch_keys = dict(embed_dims=4, depths=4, num_heads=4, split_sizes=4)
    num_stages = 4
    convert_checkpoint = staticmethod(cswin_convert)

    def __init__(self,
                 arch='t',
                 in_channels=3,
                 stem='7x7',
                 mlp_ratio=4.,
                 drop_path_rate=0.,
                 out_indices=(0, 1, 2, 3),
                 out_norm=True,
                 taps=None,
                 frozen_stages=-1,
                 norm_eval=False,
                 with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        arch = self._init_contract(arch, out_indices, frozen_stages,
                                   norm_eval, with_cp, 'strides 4/8/16/32')
        self.embed_dims = arch['embed_dims']
        self.out_norm = out_norm
        self.taps = self._check_taps(taps, arch['depths'])
        self.stem = stem

        dims, depths = self.embed_dims, arch['depths']
        self.stage1_conv_embed = build_stem(stem, in_channels, dims[0])
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        for i in range(self.num_stages):
            if i > 0:
                self.add_module(f'merge{i}', MergeBlock(dims[i - 1], dims[i]))
            first = sum(depths[:i])
            self.add_module(
                f'stage{i + 1}',
                nn.ModuleList([
                    CSWinBlock(dims[i], arch['num_heads'][i],
                               arch['split_sizes'][i], mlp_ratio,
                               drop_path=dpr[first + j],
                               last_stage=i == self.num_stages - 1)
                    for j in range(depths[i])
                ]))
            if out_norm and i in self.out_indices:
                self.add_module(f'norm{i + 1}', nn.LayerNorm(dims[i]))
        stages = list(self.out_indices)
        if self.taps is not None:
            stages += [self.taps['stage']] * len(self.taps['blocks'])
        self.out_channels = [dims[i] for i in stages]
        self._freeze_stages()

    @staticmethod
    def _check_taps(taps, depths):
        """``taps`` -> ``dict(stage=i, blocks=(j, ...))`` with non-negative
        block indices, or None."""
        if taps is None:
            return None
        if not isinstance(taps, dict) or set(taps) != {'stage', 'blocks'}:
            raise ValueError(f'taps must be dict(stage=i, blocks=(j, ...)), '
                             f'got {taps!r}')
        stage = taps['stage']
        if not 0 <= stage < len(depths):
            raise ValueError(f'taps stage must be in [0, {len(depths) - 1}],'
                             f' got {stage}')
        depth, blocks = depths[stage], taps['blocks']
        if isinstance(blocks, int):
            blocks = [blocks]
        if not blocks or not all(-depth <= j < depth for j in blocks):
            raise ValueError(f'taps blocks must be indices of the {depth} '
                             f'blocks of stage {stage}, got {blocks}')
        return dict(stage=stage, blocks=tuple(j % depth for j in blocks))

    def stages(self):
        return [getattr(self, f'stage{i + 1}') for i in range(self.num_stages)]

    def stage_info(self):
        return [dict(num_chs=c, reduction=4 * 2**i,
                     module=f'norm{i + 1}' if self.out_norm else
                     f'stage{i + 1}') for i, c in enumerate(self.embed_dims)]

    def extra_feature_info(self):
        if self.taps is None:
            return []
        stage = self.taps['stage']
        return [dict(num_chs=self.embed_dims[stage], reduction=4 * 2**stage,
                     module=f'stage{stage + 1}.{j}')
                for j in self.taps['blocks']]

    def forward(self, x):
        x = self.stage1_conv_embed(x)  # B, H, W, C
        hw_shape = tuple(x.shape[1:3])
        x = x.flatten(1, 2)
        tap_stage, tap_blocks = (-1, ()) if self.taps is None else (
            self.taps['stage'], self.taps['blocks'])
        outs, tapped = {}, {}
        for i, stage in enumerate(self.stages()):
            if i > 0:
                x, hw_shape = getattr(self, f'merge{i}')(x, hw_shape)
            for j, block in enumerate(stage):
                x = self._checkpointed(block, x, hw_shape)
                if i == tap_stage and j in tap_blocks:
                    tapped[j] = nlc_to_nchw(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f'norm{i + 1}')(x) if self.out_norm \
                    else x
                # contiguous NCHW: mmcv's RoIAlign reads any map as NCHW
                outs[i] = nlc_to_nchw(out, hw_shape)
        return tuple(outs[i] for i in self.out_indices) + tuple(
            tapped[j] for j in tap_blocks)

    def _frozen_modules(self):
        modules = [self.stage1_conv_embed]
        for i in range(self.frozen_stages):
            if i > 0:
                modules.append(getattr(self, f'merge{i}'))
            modules.append(getattr(self, f'stage{i + 1}'))
            if hasattr(self, f'norm{i + 1}'):
                modules.append(getattr(self, f'norm{i + 1}'))
        return modules

    def _allowed_missing(self):
        # ImageNet checkpoints have no norm1..norm4: they keep their
        # initialisation; every other missing key is still an error.
        return cswin_out_norm_keys(self.state_dict())

    def init_weights(self):
        if self.load_pretrained_if_asked():
            return
        if self.init_cfg is None:  # the official CSWin initialisation
            init_transformer_weights(self)
        super().init_weights()
