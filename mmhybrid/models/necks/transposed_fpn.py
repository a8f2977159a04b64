"""FPN with transposed-convolution upsampling (the neck of the official SHViT
detector), giving detectors and segmentors stride-4/8 levels from a backbone
whose finest map has stride 16."""
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from ...registry import register_model


@register_model
class TransposedConvFPN(BaseModule):
    """FPN whose top-down-fused finest level is upsampled by a chain of 2x2
    stride-2 ConvTranspose2d layers, each followed by its own 3x3 output conv.

    Outputs are ordered from fine to coarse: ``num_upsample`` upsampled
    levels, one level per input, then extra levels, truncated to
    ``num_outs``.

    Args:
        in_channels (list[int]): channels of the backbone maps (fine to
            coarse, consecutive strides differing by 2).
        out_channels (int): channels of every output.
        num_outs (int): number of outputs.
        num_upsample (int): transposed convs (2: strides 4..64 from SHViT's
            16/32/64; 1: strides 8..).
        add_extra_convs (bool | str): how levels beyond the inputs are made:
            False = max-pool of the last output (mmdet's FPN), 'on_input' = 3x3
            stride-2 conv on the last backbone map, 'on_output' = on the last
            output.
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 num_outs,
                 num_upsample=2,
                 add_extra_convs=False,
                 conv_cfg=None,
                 norm_cfg=None,
                 act_cfg=None,
                 init_cfg=dict(type='Xavier', layer='Conv2d',
                               distribution='uniform')):
        super().__init__(init_cfg=init_cfg)
        if add_extra_convs not in (False, 'on_input', 'on_output'):
            raise ValueError("add_extra_convs must be False, 'on_input' or "
                             f"'on_output', got {add_extra_convs!r}")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = num_outs
        self.num_upsample = num_upsample
        self.add_extra_convs = add_extra_convs
        conv_kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        self.lateral_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, **conv_kw) for c in in_channels)
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, **conv_kw)
            for _ in in_channels)
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(out_channels, out_channels, 2, stride=2)
            for _ in range(num_upsample))
        self.up_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, **conv_kw)
            for _ in range(num_upsample))
        num_extra = num_outs - num_upsample - len(in_channels)
        self.extra_convs = nn.ModuleList()
        if add_extra_convs:
            for i in range(max(num_extra, 0)):
                c_in = (self.in_channels[-1]
                        if i == 0 and add_extra_convs == 'on_input' else
                        out_channels)
                self.extra_convs.append(
                    ConvModule(c_in, out_channels, 3, stride=2, padding=1,
                               **conv_kw))

    def forward(self, inputs):
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} expects '
                             f'{len(self.in_channels)} inputs, got '
                             f'{len(inputs)}')
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], mode='nearest')
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        up, ups = laterals[0], []
        for deconv, conv in zip(self.deconvs, self.up_convs):
            up = deconv(up)
            ups.insert(0, conv(up))
        outs = ups + outs
        while len(outs) < self.num_outs:
            i = len(outs) - self.num_upsample - len(self.in_channels)
            if not self.add_extra_convs:
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            elif i == 0 and self.add_extra_convs == 'on_input':
                outs.append(self.extra_convs[i](inputs[-1]))
            else:
                outs.append(self.extra_convs[i](outs[-1]))
        return tuple(outs[:self.num_outs])
