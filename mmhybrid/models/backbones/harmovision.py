"""HarmoVision: a MobileViT-v1-style CNN-Transformer hybrid whose blocks split
the channels into a local branch (LW-MHSA) and a global branch (CGSA) and
cross-gate them (DCA: global -> local channel weights, DSA: local -> global
directional spatial map). Upstream: Xuwei86/HarmoVision (CVNets; logged as
``MoConv`` / ``MoConvBlock``). No weights are published; the architecture
follows the logged model print and FVCore tables (params and FLOPs match).

Layout: ``stem`` (3x3 s2 conv, 16 ch) -> ``layer1`` (MV2, stride 2 overall)
-> ``layer2`` (3 MV2, stride 4) -> ``layer3..5`` (stride-2 MV2 downsampler,
HarmoVision blocks, channels-first LayerNorm; strides 8, 16, 32). The
classifier (1x1 conv + BN + SiLU, pool, dropout, Linear) is
:class:`mmhybrid.models.HarmoVisionClsHead`.
"""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.utils import LayerNorm2d

from ...deploy import BatchChunked, ChannelsLastLayerNorm2d
from ...registry import register_model
from ..layers import CGSA, DCA, DSA, LWMHSA, Conv2dBN, make_divisible
from .base import HybridBackbone


class InvertedResidual(nn.Module):
    """MobileNetV2 block (CVNets names ``block.exp_1x1``, ``conv_3x3``,
    ``red_1x1``): 1x1 expand + BN + SiLU (omitted for expansion 1), 3x3
    depthwise (stride, dilation) + BN + SiLU, 1x1 project + BN; identity skip
    when stride 1 and in == out."""

    def __init__(self, in_channels, out_channels, stride=1, expansion=4,
                 dilation=1, skip=True):
        super().__init__()
        hidden = make_divisible(int(round(in_channels * expansion)), 8)
        block = nn.Sequential()
        if expansion != 1:
            block.add_module('exp_1x1', nn.Sequential(
                Conv2dBN(in_channels, hidden), nn.SiLU()))
        block.add_module('conv_3x3', nn.Sequential(
            Conv2dBN(hidden, hidden, 3, stride, dilation, dilation,
                     groups=hidden), nn.SiLU()))
        block.add_module('red_1x1', Conv2dBN(hidden, out_channels))
        self.block = block
        self.use_res_connect = (skip and stride == 1
                                and in_channels == out_channels)

    def forward(self, x):
        if self.use_res_connect:
            return x + self.block(x)
        return self.block(x)

    def residual_body(self):
        """Deploy: the skip is added inside ``red_1x1``'s kernel
        (:func:`mmhybrid.deploy.fuse_residuals`)."""
        return self.block if self.use_res_connect else None


class HarmoVisionStage(nn.Sequential):
    """The stem or one layer of :class:`HarmoVision` (an ``nn.Sequential``).
    Deploy: :meth:`fuse` makes it a :class:`~mmhybrid.deploy.BatchChunked`
    (each member on batch chunks whose widest map fits ``chunk_bytes`` per
    CPU thread; same arithmetic per image)."""

    #: the per-thread budget of the deploy form's batch chunks
    chunk_bytes = 8 << 20

    def fuse(self):
        return BatchChunked(self, self.chunk_bytes)


class StageNorm(LayerNorm2d):
    """mmpretrain's ``LayerNorm2d`` closing layer3..5. Deploy:
    :meth:`fuse` leaves its output channels-last
    (:class:`~mmhybrid.deploy.ChannelsLastLayerNorm2d`), the layout the next
    stage's convolutions take."""

    def fuse(self):
        return ChannelsLastLayerNorm2d(self)


class HarmoVisionBlock(nn.Module):
    """One HarmoVision block at width C (C' = C / 2)::

        Y = LN1(X);  Y0, Y1 = split(Y)
        Z0 = LW-MHSA(Y0);  Z1 = CGSA(Y1)
        Z0' = Z0 * DCA(Z1);  Z1' = Z1 * DSA(Z0)
        X1 = R + DropPath(cat(Z0', Z1'))   R = Y (upstream) or X (standard)
        out = X1 + MV2_e4(LN2(X1))

    A module switched off is removed with its parameters: LW-MHSA / CGSA
    off makes Z0 = Y0 / Z1 = Y1 (identity); DCA / DSA off drops that gate
    (Z0' = Z0 / Z1' = Z1).
    """

    def __init__(self, channels, window_size=7, head_dim=8,
                 dsa_group_channels=8, mlp_ratio=4, drop_path=0.1,
                 residual='upstream', use_lw_mhsa=True, use_cgsa=True,
                 use_dsa=True, use_dca=True):
        super().__init__()
        if channels % 2:
            raise ValueError(f'block width must be even, got {channels}')
        if residual not in ('upstream', 'standard'):
            raise ValueError(f"residual must be 'upstream' or 'standard', "
                             f'got {residual!r}')
        half = channels // 2
        self.residual = residual
        self.norm1 = LayerNorm2d(channels, eps=1e-6)
        self.lw_mhsa = (LWMHSA(half, window_size, head_dim)
                        if use_lw_mhsa else nn.Identity())
        self.cgsa = CGSA(half) if use_cgsa else nn.Identity()
        self.dsa = DSA(half, group_channels=dsa_group_channels) \
            if use_dsa else None
        self.dca = DCA(half) if use_dca else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 \
            else nn.Identity()
        self.norm2 = LayerNorm2d(channels, eps=1e-6)
        self.mv2 = InvertedResidual(channels, channels, 1, mlp_ratio)

    def forward(self, x):
        y = self.norm1(x)
        y0, y1 = y.chunk(2, dim=1)
        z0, z1 = self.lw_mhsa(y0), self.cgsa(y1)
        g0 = z0 * self.dca(z1) if self.dca is not None else z0
        g1 = z1 * self.dsa(z0) if self.dsa is not None else z1
        shortcut = y if self.residual == 'upstream' else x
        x = shortcut + self.drop_path(torch.cat([g0, g1], dim=1))
        return x + self.mv2(self.norm2(x))

    @torch.no_grad()
    def fuse(self):
        """The deploy form (:class:`HarmoVisionBlockDeploy`; this block is
        left as it was)."""
        return HarmoVisionBlockDeploy(self)


def _bn_scale_shift(bn):
    """``(s, t)`` with ``bn(x) == x * s + t`` per channel (eval mode)."""
    s = bn.weight / (bn.running_var + bn.eps).sqrt()
    return s, bn.bias - bn.running_mean * s


def _hooked(module):
    """Whether a tool listens on ``module`` (an :class:`AttentionMap`)."""
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _linear(weight, bias=None):
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None,
                    device=weight.device, dtype=weight.dtype)
    lin.weight.copy_(weight)
    if bias is not None:
        lin.bias.copy_(bias)
    return lin


class LWMHSADeploy(nn.Module):
    """Deploy form of :class:`~mmhybrid.models.layers.LWMHSA` on tokens
    (B, H, W, C): the BatchNorm folded into one q/k/v projection (one GEMM;
    ReLU on the v third), and per window ``F.scaled_dot_product_attention``.
    The map is not padded: the full windows and the partial ones at the
    right / bottom edges (at most four groups of equal windows) attend
    separately, which is what masking the padded keys computes. With a hook
    on ``attn_map`` (attention capture) the explicit padded softmax runs
    instead, so that tools see the map as trained."""

    def __init__(self, m):
        super().__init__()
        s, t = _bn_scale_shift(m.norm)
        w = torch.cat([m.qk.weight.flatten(1), m.v[0].weight.flatten(1)])
        self.qkv = _linear(w * s, w @ t)
        self.channels, self.window_size = m.channels, m.window_size
        self.num_heads, self.head_dim = m.num_heads, m.head_dim
        self.scale = m.scale
        self.attn_map = m.attn_map

    def forward(self, x):
        B, H, W, C = x.shape
        qkv = self.qkv(x)  # B, H, W, 3C
        if torch.is_grad_enabled() or torch.jit.is_tracing():
            qkv = torch.cat([qkv[..., :2 * C], F.relu(qkv[..., 2 * C:])], -1)
        else:
            F.relu_(qkv[..., 2 * C:])
        wh, ww = (self.window_size, ) * 2 if self.window_size > 0 else (H, W)
        if _hooked(self.attn_map):
            return self._explicit(qkv, wh, ww)
        if torch.jit.is_tracing():
            return self._traced(qkv, wh, ww)
        rows = [(r0, r1, h) for r0, r1, h in [(0, H // wh * wh, wh),
                                                  (H // wh * wh, H, H % wh)]
                if r1 > r0]
        cols = [(c0, c1, w) for c0, c1, w in [(0, W // ww * ww, ww),
                                                  (W // ww * ww, W, W % ww)]
                if c1 > c0]
        if torch.is_grad_enabled() or torch.jit.is_tracing():
            # functional (autograd, ONNX export): the regions concatenated
            return torch.cat([
                torch.cat([self._attend(qkv[:, r0:r1, c0:c1], h, w)
                           for c0, c1, w in cols], dim=2)
                for r0, r1, h in rows], dim=1)
        out = qkv.new_empty(B, H, W, C)
        for r0, r1, h in rows:
            for c0, c1, w in cols:
                self._attend(qkv[:, r0:r1, c0:c1], h, w,
                             out[:, r0:r1, c0:c1])
        return out

    def _traced(self, qkv, wh, ww):
        """The export form: the map padded to whole windows and the padded
        keys masked, with no Python branch on the map's size, so that a
        dynamic-shape graph holds at every size (the region split above
        keeps the traced size's regions)."""
        B, H, W, _ = qkv.shape
        pad_b, pad_r = (wh - H % wh) % wh, (ww - W % ww) % ww
        qkv = F.pad(qkv, (0, 0, 0, pad_r, 0, pad_b))
        Hp, Wp = H + pad_b, W + pad_r
        rows = torch.arange(Hp, device=qkv.device) < H
        cols = torch.arange(Wp, device=qkv.device) < W
        keep = (rows[:, None] & cols[None]).view(Hp // wh, wh, Wp // ww, ww)
        keep = keep.permute(0, 2, 1, 3).reshape(-1, 1, 1, wh * ww)
        q, k, v = self._windows(qkv, wh, ww)
        o = F.scaled_dot_product_attention(q, k, v,
                                           attn_mask=keep.repeat(B, 1, 1, 1),
                                           scale=self.scale)
        return self._unwindow(o, B, Hp, Wp, wh, ww)[:, :H, :W]

    def _windows(self, qkv, wh, ww):
        """B, nh*wh, nw*ww, 3C -> q, k, v (B*nh*nw, heads, wh*ww, d)"""
        B, H, W, _ = qkv.shape
        x = qkv.view(B, H // wh, wh, W // ww, ww, 3, self.num_heads,
                     self.head_dim).permute(5, 0, 1, 3, 6, 2, 4, 7)
        return x.reshape(3, -1, self.num_heads, wh * ww,
                         self.head_dim).unbind(0)

    def _unwindow(self, o, B, H, W, wh, ww, out=None):
        """o (B*nh*nw, heads, wh*ww, d) -> (B, nh*wh, nw*ww, C), written
        into ``out`` if given"""
        nh, nw = H // wh, W // ww
        o = o.view(B, nh, nw, self.num_heads, wh, ww,
                   self.head_dim).permute(0, 1, 4, 2, 5, 3, 6)
        if out is None:
            return o.reshape(B, H, W, self.channels)
        out.view(B, nh, wh, nw, ww, self.num_heads, self.head_dim).copy_(o)
        return out

    def _attend(self, qkv, wh, ww, out=None):
        q, k, v = self._windows(qkv, wh, ww)
        o = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self._unwindow(o, *qkv.shape[:3], wh, ww, out)

    def _explicit(self, qkv, wh, ww):
        """The trained computation (padding, masked softmax) through
        ``attn_map``."""
        B, H, W, _ = qkv.shape
        pad_b, pad_r = (wh - H % wh) % wh, (ww - W % ww) % ww
        Hp, Wp = H + pad_b, W + pad_r
        qkv = F.pad(qkv, (0, 0, 0, pad_r, 0, pad_b))
        q, k, v = self._windows(qkv, wh, ww)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        if pad_b or pad_r:
            valid = qkv.new_zeros(1, 1, Hp, Wp, dtype=torch.bool)
            valid[..., :H, :W] = True
            valid = valid.view(1, 1, Hp // wh, wh, Wp // ww, ww)
            valid = valid.permute(0, 2, 4, 1, 3, 5).reshape(-1, 1, 1, wh * ww)
            attn = attn.masked_fill(~valid.repeat(B, 1, 1, 1), float('-inf'))
        attn = self.attn_map(attn.softmax(dim=-1), kind='windows', batch=B,
                             hw=(H, W), padded=(Hp, Wp), window=(wh, ww),
                             offset=(0, 0))
        return self._unwindow(attn @ v, B, Hp, Wp, wh, ww)[:, :H, :W]


class HarmoVisionBlockDeploy(nn.Module):
    """Deploy form of :class:`HarmoVisionBlock`, on channels-last maps run
    as tokens (B, H, W, C) throughout: no layout copies, no padding. Every
    BatchNorm before/after a linear map is folded (LW-MHSA's input BN into
    its q/k/v projection, CGSA's BN into its first 1x1 conv, DSA's BN into
    its Conv1d); LW-MHSA is :class:`LWMHSADeploy`; the gates are applied
    as small factors (CGSA's ``g_h * g_w`` and DSA's ``a_h * a_w`` are
    never materialised as maps: ``Z1' = Y1 * g_w * (g_h a_h) * a_w``, DCA
    reading the mean of ``Z1`` from the row sums of ``Y1 * g_w``) and the
    residual and the concatenation are written by the same kernels
    (``addcmul`` into the halves of the output). The MV2 (``mv2``) is fused
    by the deploy passes. Same function as the block in eval mode."""

    def __init__(self, block):
        super().__init__()
        self.residual = block.residual
        self.norm1 = copy.deepcopy(block.norm1)
        self.norm2 = copy.deepcopy(block.norm2)
        self.lw_mhsa = LWMHSADeploy(block.lw_mhsa) \
            if isinstance(block.lw_mhsa, LWMHSA) else None
        self.cgsa = None
        if isinstance(block.cgsa, CGSA):
            c = block.cgsa
            s, t = _bn_scale_shift(c.bn1)
            self.cgsa = nn.ModuleDict(dict(
                conv1=_linear(c.conv1.weight.flatten(1) * s[:, None],
                              c.conv1.bias * s + t),
                conv_h=_linear(c.conv_h.weight.flatten(1), c.conv_h.bias),
                conv_w=_linear(c.conv_w.weight.flatten(1), c.conv_w.bias)))
        self.dsa = None
        if block.dsa is not None:
            d = block.dsa
            s, t = _bn_scale_shift(d.bn)
            conv = copy.deepcopy(d.conv)
            conv.weight.mul_(s[:, None, None])
            conv.bias = nn.Parameter(t.clone())
            self.dsa = nn.ModuleDict(dict(conv=conv, attn_map=d.attn_map))
        self.dca = copy.deepcopy(block.dca)
        self.mv2 = copy.deepcopy(block.mv2)

    def _norm(self, norm, x):
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias,
                            norm.eps)

    def _cgsa_gates(self, y):
        """y (B, H, W, C) -> g_h (B, H, 1, C), g_w (B, 1, W, C)"""
        H = y.shape[1]
        m = torch.cat([y.mean(dim=2), y.mean(dim=1)], dim=1)  # B, H+W, C
        m = F.hardswish(self.cgsa.conv1(m))
        g_h = self.cgsa.conv_h(m[:, :H]).sigmoid_()
        g_w = self.cgsa.conv_w(m[:, H:]).sigmoid_()
        return g_h.unsqueeze(2), g_w.unsqueeze(1)

    def _dsa_gates(self, z):
        """z (B, H, W, C) -> a_h (B, H, 1, C), a_w (B, 1, W, C)"""
        conv = self.dsa.conv
        a_h = conv(z.mean(dim=2).transpose(1, 2)).sigmoid_()  # B, C, H
        a_w = conv(z.mean(dim=1).transpose(1, 2)).sigmoid_()  # B, C, W
        if _hooked(self.dsa.attn_map):
            self.dsa.attn_map(a_h.unsqueeze(3) * a_w.unsqueeze(2),
                              kind='spatial')
        return a_h.transpose(1, 2).unsqueeze(2), a_w.transpose(1, 2)[:, None]

    def _dca_weights(self, mean):
        """mean (B, C) -> channel weights (B, 1, 1, C)"""
        w = self.dca.conv(mean.unsqueeze(1)).sigmoid_()  # B, 1, C
        if _hooked(self.dca.attn_map):
            self.dca.attn_map(w.transpose(1, 2).unsqueeze(3), kind='channel')
        return w.unsqueeze(1)

    def forward(self, x):
        t = x.permute(0, 2, 3, 1)  # B, H, W, C (a view when channels-last)
        B, H, W, C = t.shape
        half = C // 2
        y = self._norm(self.norm1, t)
        y0, y1 = y[..., :half], y[..., half:]
        short = y if self.residual == 'upstream' else t
        z0 = self.lw_mhsa(y0) if self.lw_mhsa is not None else y0
        # Z1 = Y1 * g_h * g_w (CGSA), computed as U * g_h with U = Y1 * g_w
        g_h = None
        if self.cgsa is not None:
            g_h, g_w = self._cgsa_gates(y1)
            u = y1 * g_w
        else:
            u = y1
        # the halves of the output written in place when nothing records
        # the graph (autograd, tracing: ONNX export), else concatenated
        inplace = not (torch.is_grad_enabled() or torch.jit.is_tracing())
        out = y.new_empty(B, H, W, C) if inplace else None

        def write(fn, *args, part):
            if not inplace:
                return fn(*args)
            sl = out[..., :half] if part == 0 else out[..., half:]
            return fn(*args, out=sl)

        if self.dca is not None:  # Z0' = Z0 * DCA(Z1)
            if g_h is not None:  # mean of Z1 from the row sums of U
                mean = (u.sum(dim=2) * g_h[:, :, 0]).sum(dim=1) / (H * W)
            else:
                mean = u.mean(dim=(1, 2))
            left = write(torch.addcmul, short[..., :half], z0,
                         self._dca_weights(mean), part=0)
        else:
            left = write(torch.add, short[..., :half], z0, part=0)
        a_w = None
        if self.dsa is not None:  # Z1' = Z1 * a_h * a_w
            a_h, a_w = self._dsa_gates(z0)
            g_h = a_h if g_h is None else g_h * a_h
        if g_h is not None and a_w is not None:
            u = u * g_h
            g_h = a_w
        if g_h is None:
            right = write(torch.add, short[..., half:], u, part=1)
        else:
            right = write(torch.addcmul, short[..., half:], u, g_h, part=1)
        if not inplace:
            out = torch.cat([left, right], dim=-1)
        n2 = self._norm(self.norm2, out)
        x1 = out.permute(0, 3, 1, 2)
        return x1 + self.mv2(n2.permute(0, 3, 1, 2))


@register_model
class HarmoVision(HybridBackbone):
    """HarmoVision backbone.

    Args:
        arch (str | dict): 'n', 't', 's' or a dict with keys ``channels``
            (stem, layer1..layer5), ``expansions`` (layer1, layer2 and the
            layer3/4/5 downsamplers), ``depths`` (blocks in layer3..5) and
            ``dsa_group_channels`` (channels per DSA Conv1d group, 1 =
            depthwise).
        in_channels (int): input channels. Defaults to 3.
        out_indices (Sequence[int]): layers whose outputs are returned,
            0..4 = layer1..layer5 at strides 2, 4, 8, 16, 32. Defaults to
            (1, 2, 3, 4).
        frozen_stages (int): -1 freezes nothing, 0 the stem, k >= 1 the stem
            and layer1..layerk. Defaults to -1.
        norm_eval (bool): keep all BatchNorms in eval mode while training.
        with_cp (bool): gradient checkpointing of every block.
        window_size (int): LW-MHSA window; <= 0 is global attention.
            Defaults to 7.
        head_dim (int): LW-MHSA channels per head. Defaults to 8.
        drop_path_rate (float): drop-path on the attention branch of every
            block (constant, as upstream). Defaults to 0.1.
        residual (str): 'upstream' adds the attention branch to the
            normalised Y (as trained upstream); 'standard' adds it to X.
        use_lw_mhsa, use_cgsa, use_dsa, use_dca (bool): ablation switches;
            a module switched off is removed with exactly its parameters
            (LW-MHSA / CGSA become identity, DSA / DCA stop gating).
        output_stride (int): 32, or 8 for DeepLabv3 (layer4's downsampler
            stride 1, layer5's stride 1 with dilation 2, as upstream).
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH,
            prefix=...)`` loads an mmhybrid checkpoint (``prefix='backbone.'``
            for a full classifier).
    """
    arch_zoo = {
        'n': dict(channels=[16, 32, 48, 64, 80, 112],
                  expansions=[2, 2, 4, 4, 2], depths=[3, 4, 3],
                  dsa_group_channels=1),
        't': dict(channels=[16, 32, 64, 96, 128, 160],
                  expansions=[2, 2, 2, 2, 2], depths=[2, 4, 3],
                  dsa_group_channels=8),
        's': dict(channels=[16, 32, 64, 128, 192, 256],
                  expansions=[6, 6, 6, 6, 6], depths=[2, 4, 3],
                  dsa_group_channels=8),
    }
    arch_keys = dict(channels=6, expansions=5, depths=3,
                     dsa_group_channels=None)
    num_stages = 5

    def __init__(self,
                 arch='s',
                 in_channels=3,
                 out_indices=(1, 2, 3, 4),
                 frozen_stages=-1,
                 norm_eval=False,
                 with_cp=False,
                 window_size=7,
                 head_dim=8,
                 drop_path_rate=0.1,
                 residual='upstream',
                 use_lw_mhsa=True,
                 use_cgsa=True,
                 use_dsa=True,
                 use_dca=True,
                 output_stride=32,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        arch = self._init_contract(arch, out_indices, frozen_stages,
                                   norm_eval, with_cp,
                                   'layer1..layer5, strides 2/4/8/16/32')
        if output_stride not in (8, 32):
            raise ValueError(f'output_stride must be 32 or 8, got '
                             f'{output_stride}')
        self.output_stride = output_stride

        ch, ex, depths = arch['channels'], arch['expansions'], arch['depths']
        self.stem = HarmoVisionStage(Conv2dBN(in_channels, ch[0], 3, 2, 1),
                                     nn.SiLU())
        self.layer1 = HarmoVisionStage(
            InvertedResidual(ch[0], ch[1], 1, ex[0]))
        self.layer2 = HarmoVisionStage(*[
            InvertedResidual(ch[1] if i == 0 else ch[2], ch[2],
                             2 if i == 0 else 1, ex[1]) for i in range(3)
        ])
        block_cfg = dict(window_size=window_size, head_dim=head_dim,
                         dsa_group_channels=arch['dsa_group_channels'],
                         drop_path=drop_path_rate, residual=residual,
                         use_lw_mhsa=use_lw_mhsa, use_cgsa=use_cgsa,
                         use_dsa=use_dsa, use_dca=use_dca)
        # (stride, dilation) of the layer3/4/5 downsamplers
        down = [(2, 1), (2, 1), (2, 1)] if output_stride == 32 else \
            [(2, 1), (1, 1), (1, 2)]
        for i in range(3):
            c_in, c = ch[i + 2], ch[i + 3]
            stride, dilation = down[i]
            layers = [InvertedResidual(c_in, c, stride, ex[i + 2], dilation,
                                       skip=False)]
            layers += [HarmoVisionBlock(c, **block_cfg)
                       for _ in range(depths[i])]
            layers.append(StageNorm(c, eps=1e-6))
            self.add_module(f'layer{i + 3}', HarmoVisionStage(*layers))
        self.channels = ch[1:]
        self.out_channels = [ch[i + 1] for i in self.out_indices]
        self._freeze_stages()

    def stages(self):
        return [getattr(self, f'layer{i + 1}') for i in range(self.num_stages)]

    def stage_info(self):
        # strides 2, 4, 8, 16, 32; output_stride 8 keeps layer4/5 at 8
        return [dict(num_chs=c, reduction=min(2**(i + 1), self.output_stride),
                     module=f'layer{i + 1}')
                for i, c in enumerate(self.channels)]

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, layer in enumerate(self.stages()):
            x = self._run_sequential(layer, x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    @property
    def deploy_chunk_bytes(self):
        """Deploy: every module (stem, MV2, block) runs on batch chunks
        whose widest intermediate map (per image: its widest convolution's
        output channels x output area, fp32) takes at most this many bytes
        per CPU thread, so that the MV2 expansions (6x the width at stride 4
        for -s) stay in the cache (:class:`~mmhybrid.deploy.BatchChunked`,
        the stages' :meth:`HarmoVisionStage.fuse`). Setting it sets every
        stage's budget, before or after ``switch_to_deploy()``."""
        return self.stem.chunk_bytes

    @deploy_chunk_bytes.setter
    def deploy_chunk_bytes(self, value):
        for stage in [self.stem] + self.stages():
            stage.chunk_bytes = int(value)

    def _frozen_modules(self):
        return [self.stem] + self.stages()[:self.frozen_stages]

    def init_weights(self):
        if self.load_pretrained_if_asked():
            return
        super().init_weights()
        if self.init_cfg is None:  # CVNets' initialisation
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Conv1d)):
                    nn.init.kaiming_normal_(m.weight, mode='fan_out')
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    trunc_normal_(m.weight, std=0.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
