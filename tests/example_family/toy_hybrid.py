"""ToyHybrid: the example family of ``docs/adding_a_family.md``.

A conv stem (stride 4), a conv stage (stride 4) and a stage that downsamples
and runs global single-head attention (stride 8). Everything mmhybrid's
tools need comes from the contract on :class:`HybridBackbone`; nothing in
``mmhybrid/`` or ``tools/`` names this family.
"""
import torch.nn as nn
from mmcv.cnn import ConvModule

from mmhybrid.models.backbones.base import HybridBackbone
from mmhybrid.models.layers import AttentionMap
from mmhybrid.registry import register_model


class ToyAttention(nn.Module):
    """``x + softmax(q k^T / sqrt(C)) v`` over all H*W positions."""

    def __init__(self, dim):
        super().__init__()
        self.scale = dim**-0.5
        self.norm = nn.BatchNorm2d(dim)
        self.qkv = nn.Conv2d(dim, dim * 3, 1)
        self.attn_map = AttentionMap('toy')

    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).chunk(3, dim=1)  # B, C, N
        attn = (q.transpose(1, 2) @ k * self.scale).softmax(dim=-1)
        attn = self.attn_map(attn, kind='tokens', hw=(H, W))  # B, N, N
        return x + (v @ attn.transpose(1, 2)).view(B, C, H, W)


def _conv(in_channels, out_channels, stride=1):
    return ConvModule(in_channels, out_channels, 3, stride, 1,
                      norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU'))


@register_model
class ToyHybrid(HybridBackbone):
    """Two stages at strides 4 and 8.

    Args:
        arch (str | dict): 'tiny', 'small' or a dict with keys ``channels``
            and ``depths`` (2 entries each).
        in_channels (int): input channels. Defaults to 3.
        out_indices (Sequence[int]): 0, 1 = strides 4, 8. Defaults to (0, 1).
        frozen_stages (int): -1 nothing, 0 the stem, k the stem and stages
            1..k. Defaults to -1.
        norm_eval (bool): BatchNorms in eval mode while training.
        with_cp (bool): gradient checkpointing of every block.
        init_cfg (dict, optional): ``dict(type='Pretrained', ...)``.
    """
    arch_zoo = {
        'tiny': dict(channels=[16, 32], depths=[1, 1]),
        'small': dict(channels=[24, 48], depths=[2, 2]),
    }
    arch_keys = dict(channels=2, depths=2)
    num_stages = 2

    def __init__(self, arch='tiny', in_channels=3, out_indices=(0, 1),
                 frozen_stages=-1, norm_eval=False, with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        arch = self._init_contract(arch, out_indices, frozen_stages,
                                   norm_eval, with_cp, 'strides 4/8')
        self.channels = ch = arch['channels']
        self.stem = nn.Sequential(_conv(in_channels, ch[0], 2),
                                  _conv(ch[0], ch[0], 2))
        self.stage1 = nn.Sequential(
            *[_conv(ch[0], ch[0]) for _ in range(arch['depths'][0])])
        self.stage2 = nn.Sequential(
            _conv(ch[0], ch[1], 2),
            *[ToyAttention(ch[1]) for _ in range(arch['depths'][1])])
        self.out_channels = [ch[i] for i in self.out_indices]
        self._freeze_stages()

    def stages(self):
        return [self.stage1, self.stage2]

    def stage_info(self):
        return [dict(num_chs=c, reduction=4 * 2**i, module=f'stage{i + 1}')
                for i, c in enumerate(self.channels)]

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages()):
            x = self._run_sequential(stage, x)
            if i in self.out_indices:
                # NCHW even when the convs run channels-last (deploy); free
                # when x is contiguous already
                outs.append(x.contiguous())
        return tuple(outs)

    def _frozen_modules(self):
        return [self.stem] + self.stages()[:self.frozen_stages]
