"""CSWin Transformer backbone (Dong et al., CVPR 2022) as used by GA-CSWin
("Gramian Attention Heads are Strong yet Efficient Vision Learners", Ryu et
al., ICCV 2023).

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
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_

from ...registry import register_model
from ..utils import cswin_convert, cswin_out_norm_keys
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
    Also used by the GA head (stage-5 block and the branch blocks).
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
        B, _, C = x.shape
        x = self.conv(x.transpose(1, 2).reshape(B, C, *hw_shape))
        hw_shape = x.shape[2:]
        return self.norm(x.flatten(2).transpose(1, 2)), hw_shape


class ChannelsLast(nn.Module):
    """B, C, H, W -> B, H, W, C (the official ``Rearrange`` of the stem)."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def build_stem(stem, in_channels, embed_dim):
    """Stride-4 stem ending channels-last (B, H, W, C) after a LayerNorm.

    '7x7': CSWin's 7x7 stride-4 conv (with bias); keys ``0`` (conv) and
    ``2`` (LayerNorm) as in the official checkpoints.
    'deep': GA's 3x3 s2 conv, LN, GELU, 3x3 s1 conv, LN, GELU, 3x3 s2 conv,
    LN (convs without bias; ``embed_dim // 2`` inner channels).
    """
    if stem == '7x7':
        return nn.Sequential(
            nn.Conv2d(in_channels, embed_dim, 7, 4, 2), ChannelsLast(),
            nn.LayerNorm(embed_dim))
    if stem == 'deep':
        mid = embed_dim // 2
        return nn.Sequential(
            nn.Conv2d(in_channels, mid, 3, 2, 1, bias=False), LayerNorm2d(mid),
            nn.GELU(), nn.Conv2d(mid, mid, 3, 1, 1, bias=False),
            LayerNorm2d(mid), nn.GELU(),
            nn.Conv2d(mid, embed_dim, 3, 2, 1, bias=False), ChannelsLast(),
            nn.LayerNorm(embed_dim))
    raise ValueError(f"stem must be '7x7' or 'deep', got {stem!r}")


@register_model
class GACSWin(HybridBackbone):
    """CSWin Transformer backbone (the backbone of GA-CSWin).

    Four stages at strides 4, 8, 16 and 32; each returned map goes through its
    own LayerNorm (``norm1..norm4``) and is NCHW.

    Args:
        arch (str | dict): 't', 's' or a dict with keys ``embed_dims``,
            ``depths``, ``num_heads`` and ``split_sizes`` (4 entries each).
        in_channels (int): input channels. Defaults to 3.
        stem (str): '7x7' (CSWin, loads the official checkpoints) or 'deep'
            (GA's 3-conv stem, not weight-compatible). Defaults to '7x7'.
        mlp_ratio (float): MLP hidden ratio. Defaults to 4.
        drop_path_rate (float): stochastic depth, rising linearly over all
            blocks to this value. Defaults to 0.
        out_indices (Sequence[int]): stages whose outputs are returned
            (0..3 = strides 4/8/16/32). Defaults to (0, 1, 2, 3).
        out_norm (bool): build ``norm{i+1}`` for every ``i`` in
            ``out_indices`` and apply it to the returned maps. The GA
            classifier (raw maps, ``with_taps=True``) sets False. Defaults
            to True.
        with_taps (bool): append to the returned tuple the stage-3 maps
            after blocks ``stage3_taps`` (NCHW, stride 16, never normed):
            with ``out_norm=False`` the output is what :class:`GAHead`
            aggregates. Defaults to False.
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

    The GA head uses :meth:`forward_features_all`, which also returns the
    stage-3 maps after blocks ``stage3_taps`` (every ``depth3 // 5`` blocks,
    at most 4: blocks 4, 8, 12, 16 for 't'; 6, 12, 18, 24 for 's').
    """
    arch_zoo = {
        't': dict(embed_dims=[64, 128, 256, 512], depths=[1, 2, 21, 1],
                  num_heads=[2, 4, 8, 16], split_sizes=[1, 2, 7, 7]),
        's': dict(embed_dims=[64, 128, 256, 512], depths=[2, 4, 32, 2],
                  num_heads=[2, 4, 8, 16], split_sizes=[1, 2, 7, 7]),
    }
    arch_keys = dict(embed_dims=4, depths=4, num_heads=4, split_sizes=4)
    num_stages = 4

    def __init__(self,
                 arch='t',
                 in_channels=3,
                 stem='7x7',
                 mlp_ratio=4.,
                 drop_path_rate=0.,
                 out_indices=(0, 1, 2, 3),
                 out_norm=True,
                 with_taps=False,
                 frozen_stages=-1,
                 norm_eval=False,
                 with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        arch = self._resolve_arch(arch)
        self.arch = arch
        self.embed_dims = arch['embed_dims']
        self.out_indices = self._check_indices(
            out_indices, frozen_stages, self.num_stages, self.num_stages,
            'strides 4/8/16/32')
        self.out_norm = out_norm
        self.with_taps = with_taps
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
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
        step = max(depths[2] // 5, 1)
        self.stage3_taps = tuple(step * k for k in range(1, 5)
                                 if step * k <= depths[2])
        self.out_channels = [dims[i] for i in self.out_indices]
        if with_taps:
            self.out_channels += [dims[2]] * len(self.stage3_taps)
        self._freeze_stages()

    def stages(self):
        return [getattr(self, f'stage{i + 1}') for i in range(self.num_stages)]

    @staticmethod
    def _to_map(x, hw_shape):
        # B, H*W, C -> B, C, H, W; contiguous: a channels-last view would be
        # read as NCHW by mmcv's RoIAlign and corrupt the RoI features
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2],
                                         *hw_shape).contiguous()

    def _forward_stages(self, x, taps=()):
        """Return the raw stage outputs (tokens, hw) and the stage-3 tokens
        after the blocks counted in ``taps``."""
        x = self.stage1_conv_embed(x)  # B, H, W, C
        hw_shape = tuple(x.shape[1:3])
        x = x.flatten(1, 2)
        stage_outs, tapped = [], []
        for i, stage in enumerate(self.stages()):
            if i > 0:
                x, hw_shape = getattr(self, f'merge{i}')(x, hw_shape)
                hw_shape = tuple(hw_shape)
            for j, block in enumerate(stage):
                x = self._checkpointed(block, x, hw_shape)
                if i == 2 and j + 1 in taps:
                    tapped.append(x)
            stage_outs.append((x, hw_shape))
        return stage_outs, tapped

    def forward(self, x):
        stage_outs, tapped = self._forward_stages(
            x, self.stage3_taps if self.with_taps else ())
        outs = []
        for i in self.out_indices:
            x, hw_shape = stage_outs[i]
            if self.out_norm:
                x = getattr(self, f'norm{i + 1}')(x)
            outs.append(self._to_map(x, hw_shape))
        outs += [self._to_map(t, stage_outs[2][1]) for t in tapped]
        return tuple(outs)

    def forward_features_all(self, x):
        """Everything the GA head aggregates, without the output norms.

        Returns:
            tuple[list[Tensor], list[Tensor]]: the four raw stage outputs
            (NCHW, strides 4/8/16/32, before ``norm1..norm4``; the last one is
            what CSWin's ImageNet ``norm`` + mean pooling + ``head`` use) and
            the raw stage-3 maps (NCHW, stride 16) after blocks
            ``self.stage3_taps`` (4, 8, 12, 16 for 't'; 6, 12, 18, 24 for 's').
        """
        stage_outs, tapped = self._forward_stages(x, self.stage3_taps)
        hw3 = stage_outs[2][1]
        return ([self._to_map(t, hw) for t, hw in stage_outs],
                [self._to_map(t, hw3) for t in tapped])

    def _frozen_modules(self):
        modules = [self.stage1_conv_embed]
        for i in range(self.frozen_stages):
            if i > 0:
                modules.append(getattr(self, f'merge{i}'))
            modules.append(getattr(self, f'stage{i + 1}'))
            if hasattr(self, f'norm{i + 1}'):
                modules.append(getattr(self, f'norm{i + 1}'))
        return modules

    def _convert_pretrained(self, state_dict):
        return cswin_convert(state_dict)

    def _allowed_missing(self):
        # ImageNet checkpoints have no norm1..norm4: they keep their
        # initialisation; every other missing key is still an error.
        return cswin_out_norm_keys(self.state_dict())

    def init_weights(self):
        if self.load_pretrained_if_asked():
            return
        if self.init_cfg is None:  # the official CSWin initialisation
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    trunc_normal_(m.weight, std=.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.LayerNorm):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
        super().init_weights()
