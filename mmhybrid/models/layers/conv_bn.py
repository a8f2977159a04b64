"""Conv+BN and BN+Linear pairs (training bricks); each ``fuse()`` returns
the single layer it folds into for inference (see
:mod:`mmhybrid.deploy`)."""
import copy

import torch
import torch.nn as nn
from mmcv.cnn.utils.fuse_conv_bn import _fuse_conv_bn


def make_divisible(value, divisor=8, min_value=None):
    """Round ``value`` to the nearest multiple of ``divisor`` (timm rule with
    ``round_limit=0``: never bumped up)."""
    min_value = min_value or divisor
    return max(min_value, int(value + divisor / 2) // divisor * divisor)


class Conv2dBN(nn.Sequential):
    """Conv2d without bias followed by BatchNorm2d (children ``c`` and ``bn``,
    the upstream names).

    Args:
        bn_weight_init (float): initial BN gamma (0 makes a residual branch
            start as identity).
    """

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1,
                 padding=0, dilation=1, groups=1, bn_weight_init=1.):
        super().__init__()
        self.add_module('c', nn.Conv2d(in_channels, out_channels, kernel_size,
                                       stride, padding, dilation, groups,
                                       bias=False))
        self.add_module('bn', nn.BatchNorm2d(out_channels))
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.constant_(self.bn.bias, 0)

    @torch.no_grad()
    def fuse(self):
        """Return a Conv2d with bias computing the same function (BN in
        eval mode; this module is left as it was)."""
        return _fuse_conv_bn(copy.deepcopy(self.c), self.bn)


class BNLinear(nn.Sequential):
    """BatchNorm1d followed by Linear (children ``bn`` and ``l``)."""

    def __init__(self, in_features, out_features, bias=True, std=0.02):
        super().__init__()
        self.add_module('bn', nn.BatchNorm1d(in_features))
        self.add_module('l', nn.Linear(in_features, out_features, bias=bias))
        nn.init.trunc_normal_(self.l.weight, std=std)
        if bias:
            nn.init.constant_(self.l.bias, 0)

    @torch.no_grad()
    def fuse(self):
        """Return a Linear computing the same function."""
        bn, lin = self.bn, self.l
        scale = bn.weight / (bn.running_var + bn.eps).sqrt()
        shift = bn.bias - bn.running_mean * scale
        fused = nn.Linear(lin.in_features, lin.out_features,
                          device=lin.weight.device)
        fused.weight.copy_(lin.weight * scale[None, :])
        bias = lin.weight @ shift
        if lin.bias is not None:
            bias = bias + lin.bias
        fused.bias.copy_(bias)
        return fused
