"""The extra levels of CVNets' SSDLite (apple/ml-cvnets
``cvnets/models/detection/ssd.py``: ``extra_layers``)."""
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.model import BaseModule

from ...registry import register_model


@register_model
class CVNetsSSDNeck(BaseModule):
    """Passes the backbone maps through and appends CVNets' SSD extra levels:
    per entry of ``extra_channels`` a separable stride-2 conv (depthwise 3x3
    + BN without activation, pointwise 1x1 + BN + act) on the previous level,
    then, with ``global_channels``, global average pooling and a 1x1 conv
    (no bias, no norm, act). mmdet's ``SSDNeck`` puts a 1x1 bottleneck before
    each extra conv and has no global level.

    Args:
        in_channels (Sequence[int]): channels of the backbone maps (only the
            last one feeds the extra levels).
        extra_channels (Sequence[int]): output channels of the stride-2
            levels (CVNets: proj_channels of output strides 64, 128, 256).
        global_channels (int, optional): output channels of the global level
            (CVNets' output stride -1); ``None``: no global level.
        norm_cfg, act_cfg (dict): of the extra levels.
    """

    def __init__(self, in_channels, extra_channels=(256, 128, 128),
                 global_channels=64, norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 init_cfg=dict(type='Xavier', layer='Conv2d',
                               distribution='uniform', bias=0)):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.extra_layers = nn.ModuleList()
        prev = self.in_channels[-1]
        for channels in extra_channels:
            self.extra_layers.append(
                DepthwiseSeparableConvModule(
                    prev, channels, 3, stride=2, padding=1,
                    norm_cfg=norm_cfg, act_cfg=act_cfg, dw_act_cfg=None))
            prev = channels
        self.global_layer = None
        if global_channels is not None:
            self.global_layer = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                ConvModule(prev, global_channels, 1, bias=False,
                           norm_cfg=None, act_cfg=act_cfg))

    def forward(self, inputs):
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'CVNetsSSDNeck expects {len(self.in_channels)} '
                             f'maps, got {len(inputs)}')
        outs = list(inputs)
        x = outs[-1]
        for layer in self.extra_layers:
            x = layer(x)
            outs.append(x)
        if self.global_layer is not None:
            outs.append(self.global_layer(x))
        return tuple(outs)
