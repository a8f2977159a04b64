"""CSWin Transformer backbone (Dong et al., CVPR 2022).

Module and parameter names follow the official CSWin code
(``stage1_conv_embed``, ``stage1..4``, ``merge1..3``, ``norm1..4``; inside a
block ``qkv``, ``proj``, ``attns.{0,1}.get_v``, ``norm1``/``norm2``,
``mlp.fc1``/``mlp.fc2``), so the official segmentation-backbone and ImageNet
checkpoints load unchanged; other layouts go through
:func:`mmhybrid.models.utils.cswin_convert`.

Unlike the official ImageNet model the attention works for any input size:
when a side is not a multiple of the stripe width, q/k/v are zero-padded
symmetrically after the ``qkv`` Linear, the stripes run without a mask and
the result is cropped back (as the official segmentation backbone does).

``CSWinBlock`` is also a layer of the Gramian-attention head
(:class:`mmhybrid.models.GAHead`), which reads this backbone's stage outputs
and block taps like any other backbone's.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmdet.models.layers import nchw_to_nlc, nlc_to_nchw
from mmpretrain.models.utils import LayerNorm2d

from ...registry import register_model
from ..layers.attention_map import AttentionMap
from ..layers.weight_init import init_transformer_weights
from ..utils import (cswin_classifier_convert, cswin_convert,
                     cswin_out_norm_keys)
from .base import HybridBackbone


class LePEAttention(nn.Module):
    """Self-attention inside stripes plus the locally-enhanced positional
    encoding (a 3x3 depthwise conv on v, per stripe).

    Args:
        dim (int): channels of this branch.
        num_heads (int): heads of this branch.
        split_size (int): stripe width.
        idx (int): 0 vertical stripes (full height x ``split_size``),
            1 horizontal stripes (``split_size`` x full width), -1 one window
            over the whole map (global attention).
    """

    def __init__(self, dim, num_heads, split_size=7, idx=-1):
        super().__init__()
        if idx not in (-1, 0, 1):
            raise ValueError(f'idx must be -1, 0 or 1, got {idx}')
        self.dim = dim
        self.num_heads = num_heads
        self.split_size = split_size
        self.idx = idx
        self.scale = (dim // num_heads)**-0.5
        self.get_v = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.attn_map = AttentionMap('cswin')

    def window_size(self, H, W):
        if self.idx == -1:
            return H, W
        if self.idx == 0:
            return H, self.split_size
        return self.split_size, W

    def _to_heads(self, x, H_sp, W_sp):
        # B, C, H, W -> B*nW, heads, H_sp*W_sp, C/heads
        B, C, H, W = x.shape
        x = x.reshape(B, C, H // H_sp, H_sp, W // W_sp, W_sp)
        x = x.permute(0, 2, 4, 3, 5, 1).reshape(-1, H_sp * W_sp,
                                                self.num_heads,
                                                C // self.num_heads)
        return x.transpose(1, 2)

    def _lepe(self, v, H_sp, W_sp):
        # v: B, C, H, W -> (windows as images B*nW, C, H_sp, W_sp), and both
        # v and LePE as B*nW, heads, H_sp*W_sp, C/heads
        B, C, H, W = v.shape
        v = v.reshape(B, C, H // H_sp, H_sp, W // W_sp, W_sp)
        v = v.permute(0, 2, 4, 1, 3, 5).reshape(-1, C, H_sp, W_sp)
        lepe = self.get_v(v)
        heads, d = self.num_heads, C // self.num_heads
        lepe = lepe.reshape(-1, heads, d, H_sp * W_sp).transpose(-2, -1)
        v = v.reshape(-1, heads, d, H_sp * W_sp).transpose(-2, -1)
        return v, lepe

    def forward(self, qkv):
        """qkv: B, 3, C, H, W (q, k, v stacked) -> B, H*W, C."""
        B, _, C, H, W = qkv.shape
        H_sp, W_sp = self.window_size(H, W)
        H_pad = (H_sp - H % H_sp) % H_sp
        W_pad = (W_sp - W % W_sp) % W_sp
        top, left = H_pad // 2, W_pad // 2
        if H_pad or W_pad:
            qkv = F.pad(qkv, (left, W_pad - left, top, H_pad - top))
        Hp, Wp = H + H_pad, W + W_pad
        q, k, v = qkv.unbind(1)
        q = self._to_heads(q, H_sp, W_sp) * self.scale
        k = self._to_heads(k, H_sp, W_sp)
        v, lepe = self._lepe(v, H_sp, W_sp)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        attn = self.attn_map(attn, kind='windows', batch=B, hw=(H, W),
                             padded=(Hp, Wp), window=(H_sp, W_sp),
                             offset=(top, left))
        x = attn @ v + lepe  # B*nW, heads, H_sp*W_sp, C/heads
        x = x.transpose(1, 2).reshape(B, Hp // H_sp, Wp // W_sp, H_sp, W_sp,
                                      C)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, C)
        x = x[:, top:top + H, left:left + W]
        return x.reshape(B, H * W, C)


class Mlp(nn.Module):
    """Linear, GELU, Linear."""

    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CSWinBlock(nn.Module):
    """Pre-norm CSWin block on tokens ``x`` (B, H*W, C) of an H x W map.

    Two branches (vertical and horizontal stripes, half of the channels and
    heads each), or with ``last_stage=True`` one branch of global attention.
    """

    def __init__(self,
                 dim,
                 num_heads,
                 split_size=7,
                 mlp_ratio=4.,
                 qkv_bias=True,
                 drop_path=0.,
                 last_stage=False):
        super().__init__()
        self.dim = dim
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.norm1 = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)
        if last_stage:
            self.attns = nn.ModuleList(
                [LePEAttention(dim, num_heads, split_size, idx=-1)])
        else:
            if dim % 2 or num_heads % 2:
                raise ValueError(f'a two-branch CSWin block needs even dim '
                                 f'and heads, got {dim} and {num_heads}')
            self.attns = nn.ModuleList([
                LePEAttention(dim // 2, num_heads // 2, split_size, idx=i)
                for i in range(2)
            ])
        self.drop_path = DropPath(drop_path) if drop_path > 0. \
            else nn.Identity()
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x, hw_shape):
        H, W = hw_shape
        B, L, C = x.shape
        if L != H * W:
            raise ValueError(f'{L} tokens do not form a {H}x{W} map')
        # B, N, 3C -> B, 3, C, H, W
        qkv = self.qkv(self.norm1(x)).reshape(B, H, W, 3, C).permute(
            0, 3, 4, 1, 2)
        if len(self.attns) == 2:
            attended = torch.cat([
                self.attns[0](qkv[:, :, :C // 2]),
                self.attns[1](qkv[:, :, C // 2:])
            ], dim=2)
        else:
            attended = self.attns[0](qkv)
        x = x + self.drop_path(self.proj(attended))
        return x + self.drop_path(self.mlp(self.norm2(x)))


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
    convert_classifier_checkpoint = staticmethod(cswin_classifier_convert)

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
