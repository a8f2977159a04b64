"""FPN with transposed-convolution upsampling (the neck of the official SHViT
detector), giving detectors and segmentors stride-4/8 levels from a backbone
whose finest map has stride 16."""
import re

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.models.necks import FPN

from ...registry import register_model


@register_model
class TransposedConvFPN(FPN):
    """mmdet's FPN whose top-down-fused finest level is upsampled by a chain
    of 2x2 stride-2 ConvTranspose2d layers, each output getting its own 3x3
    output conv: the official SHViT detector neck (``EfficientViTFPN``,
    mmdet 2.25), with its parameter names so its checkpoints load unchanged.

    Outputs are ordered from fine to coarse: ``num_upsample`` upsampled
    levels, one level per input, then extra levels, truncated to
    ``num_outs``.

    Parameters (official names): ``lateral_convs`` (1x1) and ``fpn_convs``
    (3x3, one per input, then the stride-2 extra convs) as in mmdet's FPN;
    ``extra_trans_convs.i`` (the i-th transposed conv of the chain, no norm
    or activation) and ``extra_fpn_convs.i`` (3x3), where
    ``extra_fpn_convs[0]`` serves the finest level, i.e. the output of the
    LAST transposed conv.

    Version 1 checkpoints of mmhybrid (``deconvs.i``, ``up_convs.i`` in chain
    order, ``extra_convs.j``) are renamed on load.

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
        conv_cfg, norm_cfg, act_cfg (dict, optional): of the 1x1/3x3 convs
            (the official neck uses none); the transposed convs never have
            norm or activation.
    """
    _version = 2

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
        if add_extra_convs not in (False, 'on_input', 'on_output'):
            raise ValueError("add_extra_convs must be False, 'on_input' or "
                             f"'on_output', got {add_extra_convs!r}")
        in_channels = list(in_channels)
        super().__init__(
            in_channels,
            out_channels,
            max(num_outs - num_upsample, len(in_channels)),
            add_extra_convs=add_extra_convs,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg)
        self.num_outs = num_outs  # FPN's excludes the upsampled levels
        self.num_upsample = num_upsample
        # levels cut off by num_outs get no output conv (a parameter without
        # gradient stalls DistributedDataParallel)
        del self.fpn_convs[max(num_outs - num_upsample, 0):]
        self.extra_trans_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 2, stride=2,
                       conv_cfg=dict(type='deconv'), norm_cfg=None,
                       act_cfg=None) for _ in range(num_upsample))
        self.extra_fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1,
                       conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                       inplace=False) for _ in range(num_upsample))

    def forward(self, inputs):
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} expects '
                             f'{len(self.in_channels)} inputs, got '
                             f'{len(inputs)}')
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], mode='nearest')
        up, ups = laterals[0], []
        for trans_conv in self.extra_trans_convs:
            up = trans_conv(up)
            ups.insert(0, up)  # fine to coarse, as extra_fpn_convs
        outs = [conv(x) for conv, x in zip(self.extra_fpn_convs, ups)]
        outs += [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        while len(outs) < self.num_outs:
            i = len(outs) - self.num_upsample  # its index in fpn_convs
            if not self.add_extra_convs:
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            elif i == self.num_ins and self.add_extra_convs == 'on_input':
                outs.append(self.fpn_convs[i](inputs[-1]))
            else:
                outs.append(self.fpn_convs[i](outs[-1]))
        return tuple(outs[:self.num_outs])

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              *args, **kwargs):
        if (local_metadata.get('version') or 1) < 2:
            # mmhybrid v1: deconvs.i (bare ConvTranspose2d), up_convs.i in
            # chain order, extra_convs.j after the per-input fpn_convs
            v1_key = re.compile(r'(deconvs|up_convs|extra_convs)\.(\d+)\.(.+)')
            for key in [k for k in state_dict if k.startswith(prefix)]:
                m = v1_key.fullmatch(key[len(prefix):])
                if m is None:
                    continue
                i, n = int(m[2]), self.num_upsample
                new = {
                    'deconvs': f'extra_trans_convs.{i}.conv.',
                    'up_convs': f'extra_fpn_convs.{n - 1 - i}.',
                    'extra_convs': f'fpn_convs.{self.num_ins + i}.',
                }[m[1]]
                state_dict[prefix + new + m[3]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)
