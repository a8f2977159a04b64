"""HAM: Hybrid Attention Module (Li, Fang, Zha, Gao, Zheng, Pattern
Recognition 2022, art. 108785).

A channel sub-module (ECA-style 1-D conv over a blend of average- and
max-pooled channel descriptors) followed by a spatial sub-module that splits
the channels, per sample, into an "important" group (the top ``lambda`` share
by channel weight) and the rest, and gives each group its own spatial
attention map from one shared 7x7 conv.

``HAM`` is registered in the MODELS registries of mmhybrid, MMPretrain,
MMDetection, MMSegmentation and in mmengine's root MODELS, so
``dict(type='HAM')`` also works as an MMDetection ResNet plugin::

    plugins=[dict(cfg=dict(type='HAM', separation_rate=0.6),
                  stages=(False, True, True, True), position='after_conv3')]

(``position='after_conv3'`` puts it before the residual sum, which is the
paper's ``out = act(HAM(F) + shortcut)``).
"""
import math

import torch
import torch.nn as nn
from mmengine.registry import MODELS as MMENGINE_MODELS

from ...registry import register_in, register_model
from .attention_map import AttentionMap


def ham_kernel_size(channels, gamma=2, b=1):
    """HAM's channel-conv kernel, ECA's rule ``|log2(C) / gamma + b / gamma|``
    made odd (C=64 -> 3, C=128 -> 5, C=256 -> 5, C=2048 -> 7). HarmoVision's
    DCA uses this plus 2 (:func:`mmhybrid.models.layers.eca_kernel_size`)."""
    t = int(abs(math.log2(channels) / gamma + b / gamma))
    return t if t % 2 else t + 1


def important_channel_count(channels, separation_rate):
    """``floor(lambda * C)`` rounded up to even, at most ``C``."""
    c_im = math.floor(separation_rate * channels)
    if c_im % 2:
        c_im += 1
    return min(c_im, channels)


class HAMChannelAttention(nn.Module):
    """``A_C = sigmoid(Conv1d_k(0.5 (avg + max) + alpha avg + beta max))``.

    Returns the channel weights ``A_C`` of shape (B, C, 1, 1).
    """

    def __init__(self, channels, kernel_size=None):
        super().__init__()
        kernel_size = kernel_size or ham_kernel_size(channels)
        if kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.alpha = nn.Parameter(torch.tensor(0.5))
        self.beta = nn.Parameter(torch.tensor(0.5))
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x):
        f_avg = x.mean((2, 3))  # B, C
        f_max = x.amax((2, 3))
        f_add = 0.5 * (f_avg + f_max) + self.alpha * f_avg + \
            self.beta * f_max
        # B, 1, C: the 1-D conv slides over the channel axis
        attn = self.conv(f_add.unsqueeze(1)).sigmoid()
        return attn.transpose(1, 2).unsqueeze(-1)  # B, C, 1, 1


class HAMSpatialAttention(nn.Module):
    """Channel-separation spatial attention.

    Per sample, the ``C_im`` channels with the largest channel weight form
    the important group (mask ``M``); each group is reduced to its
    channel-mean and channel-max over the group's own channels (2 x H x W),
    passed through the shared 7x7 conv, BN, ReLU and sigmoid. Returns ``M``
    and the maps ``A_S1``, ``A_S2``; :class:`HAM` scales each group's own
    channels with its map: ``A_S1 * M * F' + A_S2 * (1 - M) * F'``.
    """

    def __init__(self, channels, separation_rate=0.6, kernel_size=7):
        super().__init__()
        if not 0. < separation_rate <= 1.:
            raise ValueError('separation_rate must be in (0, 1], got '
                             f'{separation_rate}')
        self.channels = channels
        self.separation_rate = separation_rate
        self.num_important = important_channel_count(channels,
                                                     separation_rate)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2,
                              bias=False)
        self.bn = nn.BatchNorm2d(1)
        self.act = nn.ReLU()

    def separation_mask(self, channel_weights):
        """(B, C, 1, 1) channel weights -> (B, C, 1, 1) 0/1 mask of the
        ``num_important`` largest, per sample (no gradient)."""
        weights = channel_weights.detach().flatten(1)
        idx = weights.topk(self.num_important, dim=1).indices
        mask = torch.zeros_like(weights).scatter_(1, idx, 1.)
        return mask.view_as(channel_weights)

    def _group_attention(self, x, mask, num_channels):
        if num_channels == 0:
            return x.new_zeros(x.shape[0], 1, *x.shape[2:])
        mean = (x * mask).sum(1, keepdim=True) / num_channels
        max_ = x.masked_fill(mask == 0, float('-inf')).amax(1, keepdim=True)
        pooled = torch.cat([mean, max_], dim=1)  # B, 2, H, W
        return self.act(self.bn(self.conv(pooled))).sigmoid()

    def forward(self, x, channel_weights):
        """-> the (B, C, 1, 1) mask ``M`` and the (B, 1, H, W) maps
        ``A_S1`` (important group) and ``A_S2`` (the rest) of ``x`` = F'."""
        mask = self.separation_mask(channel_weights)
        a_s1 = self._group_attention(x, mask, self.num_important)
        a_s2 = self._group_attention(x, 1 - mask,
                                     self.channels - self.num_important)
        return mask, a_s1, a_s2


@register_model
class HAM(nn.Module):
    """Hybrid Attention Module.

    Computes ``F' = A_C * F`` and returns ``F'' = A_S1 * M * F' + A_S2 *
    (1 - M) * F'`` (no residual: put it before a residual sum, or add one).
    A few hundred parameters.

    Args:
        in_channels (int): channels C of the input.
        separation_rate (float): lambda, the share of channels in the
            important group (``floor(lambda * C)`` rounded up to even).
            Defaults to 0.6 (the paper); the HAM-ViT seed uses 0.5.
        channel_kernel_size (int, optional): kernel of the channel 1-D conv;
            None picks ECA's rule (C=64 -> 3, C=256 -> 5).
        spatial_kernel_size (int): kernel of the shared spatial conv.
            Defaults to 7.

    Inputs:
        ``x`` of shape (B, C, H, W), or tokens (B, L, C). Tokens are laid
        out row-major on an H x W grid: pass ``hw_shape=(H, W)``, or leave
        it None for a square grid (``L`` must then be a perfect square).
        The output has the input's shape.
    """
    _abbr_ = 'ham'

    def __init__(self, in_channels, separation_rate=0.6,
                 channel_kernel_size=None, spatial_kernel_size=7):
        super().__init__()
        self.in_channels = in_channels
        self.channel_attention = HAMChannelAttention(in_channels,
                                                     channel_kernel_size)
        self.spatial_attention = HAMSpatialAttention(
            in_channels, separation_rate, spatial_kernel_size)
        self.attn_map = AttentionMap('ham')

    @property
    def separation_rate(self):
        return self.spatial_attention.separation_rate

    def forward(self, x, hw_shape=None):
        if x.dim() == 3:
            B, L, C = x.shape
            H, W = self._token_grid(L, hw_shape)
            # B, L, C -> B, C, H, W
            y = self._forward_map(x.transpose(1, 2).reshape(B, C, H, W))
            return y.flatten(2).transpose(1, 2)
        if x.dim() != 4:
            raise ValueError('HAM expects (B, C, H, W) or (B, L, C) input, '
                             f'got shape {tuple(x.shape)}')
        return self._forward_map(x)

    def _forward_map(self, x):
        if x.shape[1] != self.in_channels:
            raise ValueError(f'HAM built for {self.in_channels} channels, '
                             f'got {x.shape[1]}')
        a_c = self.channel_attention(x)
        fx = a_c * x
        mask, a_s1, a_s2 = self.spatial_attention(fx, a_c)
        maps = self.attn_map(
            dict(channel=a_c, important=mask, spatial_important=a_s1,
                 spatial_sub_important=a_s2), kind='named')
        mask = maps['important']
        return maps['spatial_important'] * (mask * fx) + \
            maps['spatial_sub_important'] * ((1 - mask) * fx)

    @staticmethod
    def _token_grid(length, hw_shape):
        if hw_shape is not None:
            H, W = hw_shape
            if H * W != length:
                raise ValueError(f'hw_shape {tuple(hw_shape)} does not match '
                                 f'{length} tokens')
            return H, W
        side = math.isqrt(length)
        if side * side != length:
            raise ValueError(f'{length} tokens are not a square grid; pass '
                             'hw_shape=(H, W)')
        return side, side


# mmcv's build_plugin_layer looks in the current default scope's MODELS, or in
# mmengine's root MODELS when no scope is set (e.g. mmdet's ResNet built
# directly in a script).
register_in(MMENGINE_MODELS, HAM)
