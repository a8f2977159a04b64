"""SHViT: Single-Head Vision Transformer with Memory Efficient Macro Design
(Yun & Ro, CVPR 2024).

Module and parameter names follow the official implementation
(``patch_embed``, ``blocks1..3``, ``c``/``bn``, ``m``) so that the released
ImageNet checkpoints load unchanged; timm-layout checkpoints are renamed by
:func:`shvit_convert` (this file's converters, as timm's
``checkpoint_filter_fn``).
"""
import re
from collections import OrderedDict

import torch
import torch.nn as nn

from ...registry import register_model
from ...deploy import FusedConv2d
from ..layers import Conv2dBN, make_divisible
from ..layers.attention_map import AttentionMap
from ..utils.ckpt_convert import ClassifierConverter
from .base import HybridBackbone


class Residual(nn.Module):
    """``x + m(x)``; a depthwise 3x3 Conv2dBN inside fuses to one conv, any
    other ``m`` ending in a conv gets the add inside that conv's kernel
    (:func:`mmhybrid.deploy.fuse_residuals`)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return x + self.m(x)

    def residual_body(self):
        return self.m

    @torch.no_grad()
    def fuse(self):
        if isinstance(self.m, Conv2dBN) and \
                self.m.c.groups == self.m.c.in_channels == \
                self.m.c.out_channels and self.m.c.kernel_size == (3, 3):
            conv = self.m.fuse()
            conv.weight[:, 0, 1, 1] += 1  # identity at the kernel centre
            return conv
        return self


class FFN(nn.Module):
    """1x1 conv+BN (C -> hidden), ReLU, 1x1 conv+BN (hidden -> C)."""
    last_conv = 'pw2'  # deploy: adds the residual in its kernel

    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.pw1 = Conv2dBN(dim, hidden_dim)
        self.act = nn.ReLU()
        self.pw2 = Conv2dBN(hidden_dim, dim, bn_weight_init=0)

    def forward(self, x):
        return self.pw2(self.forward_body(x))

    def forward_body(self, x):
        return self.act(self.pw1(x))

    @torch.no_grad()
    def fuse(self):
        """Deploy form: conv+ReLU in one kernel."""
        self.pw1 = FusedConv2d.from_conv(self.pw1.fuse(), 'relu')
        self.act = nn.Identity()
        return self


class SqueezeExcite(nn.Module):
    """Channel gate: mean -> fc1 -> ReLU -> fc2 -> sigmoid."""

    def __init__(self, channels, rd_ratio=0.25):
        super().__init__()
        rd_channels = make_divisible(channels * rd_ratio, 8)
        self.fc1 = nn.Conv2d(channels, rd_channels, 1)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(rd_channels, channels, 1)

    def forward(self, x):
        gate = self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * gate.sigmoid()


class PatchMerging(nn.Module):
    """Stride-2 downsampling between stages (inverted residual with SE)."""

    def __init__(self, dim, out_dim):
        super().__init__()
        hid_dim = dim * 4
        self.conv1 = Conv2dBN(dim, hid_dim)
        self.act = nn.ReLU()
        self.conv2 = Conv2dBN(hid_dim, hid_dim, 3, 2, 1, groups=hid_dim)
        self.se = SqueezeExcite(hid_dim, 0.25)
        self.conv3 = Conv2dBN(hid_dim, out_dim)

    def forward(self, x):
        x = self.act(self.conv2(self.act(self.conv1(x))))
        return self.conv3(self.se(x))

    @torch.no_grad()
    def fuse(self):
        """Deploy form: both ReLUs run inside their convolutions."""
        self.conv1 = FusedConv2d.from_conv(self.conv1.fuse(), 'relu')
        self.conv2 = FusedConv2d.from_conv(self.conv2.fuse(), 'relu')
        self.act = nn.Identity()
        self.conv3 = self.conv3.fuse()
        return self


class SHSA(nn.Module):
    """Single-head self-attention on the first ``pdim`` channels.

    Tokens are taken as (B, N, C) views of the qkv map, which cost no copy
    when the map is channels-last (deploy mode); the result goes back to a
    (B, C, H, W) view the same way.
    """
    last_conv = 'proj.1'  # deploy: adds the residual in its kernel

    def __init__(self, dim, qk_dim, pdim):
        super().__init__()
        self.scale = qk_dim**-0.5
        self.qk_dim = qk_dim
        self.dim = dim
        self.pdim = pdim
        self.pre_norm = nn.GroupNorm(1, pdim)
        self.qkv = Conv2dBN(pdim, qk_dim * 2 + pdim)
        self.attn_map = AttentionMap('shsa')
        self.proj = nn.Sequential(nn.ReLU(), Conv2dBN(dim, dim,
                                                      bn_weight_init=0))

    def _qkv_tokens(self, x1):
        """q, k: (B, N, qk_dim) and v: (B, N, pdim) of the first channels."""
        qkv = self.qkv(self.pre_norm(x1))
        B, C = qkv.shape[:2]
        tokens = qkv.permute(0, 2, 3, 1).reshape(B, -1, C)
        return tokens.split([self.qk_dim, self.qk_dim, self.pdim], dim=2)

    def forward(self, x):
        return self.proj[1](self.forward_body(x))

    def forward_body(self, x):
        """Everything before the output projection's conv."""
        B, _, H, W = x.shape
        x1, x2 = torch.split(x, [self.pdim, self.dim - self.pdim], dim=1)
        q, k, v = self._qkv_tokens(x1)
        attn = ((q @ k.transpose(1, 2)) * self.scale).softmax(dim=-1)
        attn = self.attn_map(attn, kind='tokens', hw=(H, W))  # B, N, N
        x1 = (attn @ v).view(B, H, W, self.pdim).permute(0, 3, 1, 2)
        return self.proj[0](torch.cat([x1, x2], dim=1))  # ReLU

    @torch.no_grad()
    def fuse(self):
        """Deploy form: the ReLU before the output projection in place."""
        self.proj[0] = nn.ReLU(inplace=True)  # on the fresh concat
        return self


class BasicBlock(nn.Module):
    """Depthwise conv, (single-head attention for type 's'), FFN; each
    residual."""

    def __init__(self, dim, qk_dim, pdim, block_type):
        super().__init__()
        self.conv = Residual(
            Conv2dBN(dim, dim, 3, 1, 1, groups=dim, bn_weight_init=0))
        if block_type == 's':
            self.mixer = Residual(SHSA(dim, qk_dim, pdim))
        elif block_type == 'i':
            self.mixer = nn.Identity()
        else:
            raise ValueError(f"block type must be 's' or 'i', got "
                             f'{block_type!r}')
        self.ffn = Residual(FFN(dim, dim * 2))

    def forward(self, x):
        return self.ffn(self.mixer(self.conv(x)))


def _dw_ffn(dim):
    return nn.Sequential(
        Residual(Conv2dBN(dim, dim, 3, 1, 1, groups=dim)),
        Residual(FFN(dim, dim * 2)))


# Checkpoint layouts of the family (read by ``SHViT.convert_checkpoint``,
# ``SHViT.classifier_converters`` and tools/model_converters/convert.py).
#
# timm's SHViT names -> official names.
#   stages.0.blocks.j     -> blocks1.j
#   stages.K.downsample.0 -> blocks{K+1}.0.0   .1 -> blocks{K+1}.0.1
#   stages.K.downsample.2 -> blocks{K+1}.1
#   stages.K.downsample.3 -> blocks{K+1}.2.0   .4 -> blocks{K+1}.2.1
#   stages.K.blocks.j     -> blocks{K+1}.{j+3}   (K >= 1)
_TIMM_DOWNSAMPLE = {'0': '0.0', '1': '0.1', '2': '1', '3': '2.0', '4': '2.1'}


def _timm_key_to_official(key):
    m = re.match(r'stages\.(\d+)\.(downsample|blocks)\.(\d+)\.?(.*)$', key)
    if m is None:
        return key
    stage, kind, idx, rest = int(m[1]), m[2], m[3], m[4]
    if kind == 'downsample':
        new = f'blocks{stage + 1}.{_TIMM_DOWNSAMPLE[idx]}'
    else:
        offset = 0 if stage == 0 else 3
        new = f'blocks{stage + 1}.{int(idx) + offset}'
    return f'{new}.{rest}' if rest else new


def shvit_timm_to_official(state_dict):
    """Rename a timm-layout SHViT state dict to the official layout."""
    return OrderedDict(
        (_timm_key_to_official(k), v) for k, v in state_dict.items())


def shvit_layout(state_dict):
    """Return 'timm', 'mmhybrid' (prefixed by ``backbone.``) or 'official'."""
    if any(k.startswith('stages.') for k in state_dict):
        return 'timm'
    if any(k.startswith('backbone.') for k in state_dict):
        return 'mmhybrid'
    return 'official'


def shvit_convert(state_dict):
    """Any supported SHViT layout -> official layout (head keys kept as
    ``head.*``)."""
    layout = shvit_layout(state_dict)
    if layout == 'timm':
        return shvit_timm_to_official(state_dict)
    if layout == 'mmhybrid':
        out = OrderedDict()
        for k, v in state_dict.items():
            if k.startswith('backbone.'):
                out[k[len('backbone.'):]] = v
            elif k.startswith('head.'):
                out[k] = v
        return out
    return OrderedDict(state_dict)


def shvit_classifier_layout(state_dict):
    """The layout of an SHViT classifier state dict ('official', 'timm' or
    'mmhybrid'); None without SHViT's ``patch_embed``."""
    layout = shvit_layout(state_dict)
    if layout != 'mmhybrid' and not any(
            k.startswith('patch_embed.') for k in state_dict):
        return None
    return layout


def shvit_to_mmpretrain(state_dict):
    """Any supported SHViT layout -> the state dict of mmhybrid's MMPretrain
    ImageClassifier (``backbone.*``, ``head.bn.*``, ``head.l.*``)."""
    out = OrderedDict()
    for k, v in shvit_convert(state_dict).items():
        out[k if k.startswith('head.') else f'backbone.{k}'] = v
    return out


#: the official (weights under 'model') and timm SHViT ImageNet classifiers
SHVIT_CLASSIFIER = ClassifierConverter(
    'SHViT', shvit_classifier_layout, shvit_to_mmpretrain,
    expects='patch_embed.* keys')


def shvit_classifier_convert(state_dict):
    """An official or timm SHViT classifier state dict -> mmhybrid's
    ImageClassifier keys; None for ours (already ``backbone.*``) or a state
    dict without SHViT's ``patch_embed``."""
    return SHVIT_CLASSIFIER(state_dict)


@register_model
class SHViT(HybridBackbone):
    """SHViT backbone.

    Three stages at strides 16, 32 and 64 behind a 4-conv stride-16 stem.

    Args:
        arch (str | dict): 's1', 's2', 's3', 's4' or a dict with keys
            ``embed_dims``, ``depths``, ``partial_dims``, ``qk_dims`` and
            ``types``.
        in_channels (int): input channels. Defaults to 3.
        out_indices (Sequence[int]): stages whose outputs are returned
            (0, 1, 2 = strides 16, 32, 64). Defaults to (0, 1, 2).
        frozen_stages (int): -1 freezes nothing, 0 the stem, k >= 1 the stem
            and stages 1..k. Defaults to -1.
        norm_eval (bool): keep all BatchNorms in eval mode while training.
        with_cp (bool): gradient checkpointing of every block.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)``
            loads an official SHViT ``.pth`` (weights under ``'model'``), a
            timm-layout state dict or an mmhybrid checkpoint; the layout is
            detected and unused keys are reported.
    """
    arch_zoo = {
        's1': dict(embed_dims=[128, 224, 320], depths=[2, 4, 5],
                   partial_dims=[32, 48, 68], qk_dims=[16, 16, 16],
                   types=['i', 's', 's']),
        's2': dict(embed_dims=[128, 308, 448], depths=[2, 4, 5],
                   partial_dims=[32, 66, 96], qk_dims=[16, 16, 16],
                   types=['i', 's', 's']),
        's3': dict(embed_dims=[192, 352, 448], depths=[3, 5, 5],
                   partial_dims=[48, 75, 96], qk_dims=[16, 16, 16],
                   types=['i', 's', 's']),
        's4': dict(embed_dims=[224, 336, 448], depths=[4, 7, 6],
                   partial_dims=[48, 72, 96], qk_dims=[16, 16, 16],
                   types=['i', 's', 's']),
    }
    arch_keys = dict(embed_dims=3, depths=3, partial_dims=3, qk_dims=3,
                     types=3)
    num_stages = 3
    timm_name = 'shvit_{arch}'
    convert_checkpoint = staticmethod(shvit_convert)
    convert_classifier_checkpoint = staticmethod(shvit_classifier_convert)
    classifier_converters = (SHVIT_CLASSIFIER, )

    def __init__(self,
                 arch='s1',
                 in_channels=3,
                 out_indices=(0, 1, 2),
                 frozen_stages=-1,
                 norm_eval=False,
                 with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        arch = self._init_contract(arch, out_indices, frozen_stages,
                                   norm_eval, with_cp, 'strides 16/32/64')
        self.embed_dims = arch['embed_dims']

        ed = self.embed_dims
        self.patch_embed = nn.Sequential(
            Conv2dBN(in_channels, ed[0] // 8, 3, 2, 1), nn.ReLU(),
            Conv2dBN(ed[0] // 8, ed[0] // 4, 3, 2, 1), nn.ReLU(),
            Conv2dBN(ed[0] // 4, ed[0] // 2, 3, 2, 1), nn.ReLU(),
            Conv2dBN(ed[0] // 2, ed[0], 3, 2, 1))
        for i in range(self.num_stages):
            layers = []
            if i > 0:  # the official downsampling: DW+FFN, merge, DW+FFN
                layers += [_dw_ffn(ed[i - 1]), PatchMerging(ed[i - 1], ed[i]),
                           _dw_ffn(ed[i])]
            layers += [
                BasicBlock(ed[i], arch['qk_dims'][i], arch['partial_dims'][i],
                           arch['types'][i]) for _ in range(arch['depths'][i])
            ]
            self.add_module(f'blocks{i + 1}', nn.Sequential(*layers))
        self.out_channels = [ed[i] for i in self.out_indices]
        self._freeze_stages()

    def stages(self):
        return [getattr(self, f'blocks{i + 1}') for i in range(self.num_stages)]

    def stage_info(self):
        return [dict(num_chs=c, reduction=16 * 2**i, module=f'blocks{i + 1}')
                for i, c in enumerate(self.embed_dims)]

    def forward(self, x):
        x = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.stages()):
            x = self._run_sequential(stage, x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _frozen_modules(self):
        return [self.patch_embed] + self.stages()[:self.frozen_stages]
