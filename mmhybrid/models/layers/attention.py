"""Attention modules of HarmoVision, each usable alone on a B x C x H x W map.

* :class:`LWMHSA` - local-window multi-head self-attention (the attention
  half of EMO's iRMB).
* :class:`CGSA` - channel-spatial global attention (Coordinate Attention);
  returns the gated input.
* :class:`DSA` - directional spatial attention (ELA-style); returns the
  B x C x H x W map only.
* :class:`DCA` - dynamic channel attention (ECA-style); returns the
  B x C x 1 x 1 map only.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import register_model
from .attention_map import AttentionMap


@register_model
class LWMHSA(nn.Module):
    """Local-window multi-head self-attention.

    BatchNorm on the input, zero-pad right/bottom to multiples of the window,
    non-overlapping windows (no shift, no relative bias); q, k from one 1x1
    conv (C -> 2C, no bias), v from a 1x1 conv (C -> C, no bias) + ReLU;
    softmax(q k^T * d^-0.5) v per window and head; un-partition and crop. No
    output projection.

    Padded positions are masked out as keys, so the result does not depend on
    the padding: a window that covers the whole map gives exactly global
    attention. (EMO does not mask; the two agree whenever H and W are
    multiples of the window, e.g. every map of a 224 px input.)

    Args:
        channels (int): input and output channels (a multiple of
            ``head_dim``).
        window_size (int): side of the square windows; ``<= 0`` attends over
            the whole map. Defaults to 7.
        head_dim (int): channels per head. Defaults to 8.
    """

    def __init__(self, channels, window_size=7, head_dim=8):
        super().__init__()
        if channels % head_dim:
            raise ValueError(f'channels ({channels}) must be a multiple of '
                             f'head_dim ({head_dim})')
        self.channels = channels
        self.window_size = window_size
        self.head_dim = head_dim
        self.num_heads = channels // head_dim
        self.scale = head_dim**-0.5
        self.norm = nn.BatchNorm2d(channels)
        self.qk = nn.Conv2d(channels, channels * 2, 1, bias=False)
        self.v = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False), nn.ReLU())
        self.attn_map = AttentionMap('lwmhsa')

    def _partition(self, x, wh, ww):
        """B, C, nh*wh, nw*ww -> B*nh*nw, heads, wh*ww, d"""
        B, C, H, W = x.shape
        x = x.view(B, self.num_heads, self.head_dim, H // wh, wh, W // ww, ww)
        x = x.permute(0, 3, 5, 1, 4, 6, 2)  # B, nh, nw, heads, wh, ww, d
        return x.reshape(-1, self.num_heads, wh * ww, self.head_dim)

    def forward(self, x):
        B, C, H, W = x.shape
        if self.window_size > 0:
            wh = ww = self.window_size
        else:
            wh, ww = H, W
        pad_b, pad_r = (wh - H % wh) % wh, (ww - W % ww) % ww
        # while tracing (ONNX export) the padded, masked form runs at every
        # size: a Python branch on the traced size would freeze it into a
        # dynamic-shape graph
        padded = torch.jit.is_tracing() or bool(pad_b or pad_r)
        x = self.norm(x)
        if padded:
            x = F.pad(x, (0, pad_r, 0, pad_b))
        Hp, Wp = H + pad_b, W + pad_r
        q, k = self.qk(x).chunk(2, dim=1)
        q = self._partition(q, wh, ww)
        k = self._partition(k, wh, ww)
        v = self._partition(self.v(x), wh, ww)
        attn = (q @ k.transpose(-2, -1)) * self.scale  # B*n, heads, N, N
        if padded:
            rows = torch.arange(Hp, device=x.device) < H
            cols = torch.arange(Wp, device=x.device) < W
            valid = (rows[:, None] & cols[None]).view(1, 1, Hp // wh, wh,
                                                      Wp // ww, ww)
            valid = valid.permute(0, 2, 4, 1, 3, 5).reshape(-1, 1, 1, wh * ww)
            valid = valid.repeat(B, 1, 1, 1)  # B*n, 1, 1, N
            attn = attn.masked_fill(~valid, float('-inf'))
        attn = self.attn_map(attn.softmax(dim=-1), kind='windows', batch=B,
                             hw=(H, W), padded=(Hp, Wp), window=(wh, ww),
                             offset=(0, 0))
        out = attn @ v  # B*n, heads, N, d
        nh, nw = Hp // wh, Wp // ww
        out = out.view(B, nh, nw, self.num_heads, wh, ww, self.head_dim)
        out = out.permute(0, 3, 6, 1, 4, 2, 5).reshape(B, C, Hp, Wp)
        if padded:
            out = out[:, :, :H, :W].contiguous()
        return out


@register_model
class CGSA(nn.Module):
    """Channel-spatial global attention (Coordinate Attention).

    Pool along W (C x H x 1) and along H (C x 1 x W), concatenate, 1x1 conv
    C -> m (bias), BN, h-swish, split, two 1x1 convs m -> C (bias) + sigmoid
    give g_h and g_w; returns ``x * g_h * g_w``.

    Args:
        channels (int): input and output channels.
        reduction (int): m = max(min_mid_channels, channels // reduction).
            Defaults to 32.
        min_mid_channels (int): Defaults to 8.
    """

    def __init__(self, channels, reduction=32, min_mid_channels=8):
        super().__init__()
        mid = max(min_mid_channels, channels // reduction)
        self.conv1 = nn.Conv2d(channels, mid, 1)
        self.bn1 = nn.BatchNorm2d(mid)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(mid, channels, 1)
        self.conv_w = nn.Conv2d(mid, channels, 1)

    def forward(self, x):
        H, W = x.shape[2:]
        # means, not adaptive pooling: same values, and ONNX-exportable
        x_h = x.mean(dim=3, keepdim=True)  # B, C, H, 1
        x_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # B, C, W, 1
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        y_h, y_w = y.split([H, W], dim=2)
        g_h = self.conv_h(y_h).sigmoid()  # B, C, H, 1
        g_w = self.conv_w(y_w.transpose(2, 3)).sigmoid()  # B, C, 1, W
        return x * g_h * g_w


@register_model
class DSA(nn.Module):
    """Directional spatial attention (ELA-style); returns the map only.

    Strip means along W (C x H) and along H (C x W) go through one shared
    Conv1d (kernel 7, no bias, grouped), one shared BatchNorm1d and a sigmoid;
    the map is ``a_h[c, h] * a_w[c, w]`` (B x C x H x W), values in (0, 1).

    Args:
        channels (int): channels of the input and of the map.
        kernel_size (int): Conv1d kernel. Defaults to 7.
        group_channels (int): channels per Conv1d group; 1 is depthwise.
            Defaults to 8 (HarmoVision-t/s; -n is depthwise).
    """

    def __init__(self, channels, kernel_size=7, group_channels=8):
        super().__init__()
        if channels % group_channels:
            raise ValueError(f'channels ({channels}) must be a multiple of '
                             f'group_channels ({group_channels})')
        self.conv = nn.Conv1d(channels, channels, kernel_size,
                              padding=kernel_size // 2,
                              groups=channels // group_channels, bias=False)
        self.bn = nn.BatchNorm1d(channels)
        self.attn_map = AttentionMap('dsa')

    def forward(self, x):
        a_h = self.bn(self.conv(x.mean(dim=3))).sigmoid()  # B, C, H
        a_w = self.bn(self.conv(x.mean(dim=2))).sigmoid()  # B, C, W
        return self.attn_map(a_h.unsqueeze(3) * a_w.unsqueeze(2),
                             kind='spatial')


def eca_kernel_size(channels, gamma=2, b=1):
    """DCA's adaptive kernel: int(|(log2 C + b) / gamma|) + 2, made odd
    (5 for 16 <= C < 128, 7 for C = 128).

    HarmoVision's rule, two more than ECA's own rule
    (:func:`mmhybrid.models.layers.ham.ham_kernel_size`, which HAM uses) for
    every C: adding 2 keeps the parity, so the two differ by exactly 2 taps
    everywhere (C=64: 5 here, 3 in HAM). Both stay: each matches its model's
    parameter count (HarmoVision's spec table, the HAM paper).
    """
    k = int(abs((math.log2(channels) + b) / gamma)) + 2
    return k if k % 2 else k + 1


@register_model
class DCA(nn.Module):
    """Dynamic channel attention (ECA-style); returns the map only.

    Global average pool to 1 x C, Conv1d 1 -> 1 (no bias) over the channel
    axis with an adaptive kernel (:func:`eca_kernel_size`), sigmoid; returns
    B x C x 1 x 1 weights in (0, 1).

    Args:
        channels (int): channels of the input.
        kernel_size (int, optional): overrides the adaptive kernel.
    """

    def __init__(self, channels, kernel_size=None):
        super().__init__()
        k = kernel_size or eca_kernel_size(channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.attn_map = AttentionMap('dca')

    def forward(self, x):
        y = self.pool(x).flatten(1).unsqueeze(1)  # B, 1, C
        return self.attn_map(
            self.conv(y).sigmoid().transpose(1, 2).unsqueeze(3),
            kind='channel')
