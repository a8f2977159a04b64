"""HarmoVision's classifier (CVNets MobileViT-v1 style)."""
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.heads import ClsHead

from ...registry import register_model
from ...deploy import deploy_module
from ..layers import Conv2dBN


@register_model
class HarmoVisionClsHead(ClsHead):
    """Last backbone map -> 1x1 conv + BN + SiLU (``conv_1x1_exp``) -> global
    average pool -> dropout -> Linear (``fc``).

    Args:
        num_classes (int): number of classes.
        in_channels (int): channels of the last backbone map (layer5).
        mid_channels (int, optional): width of the 1x1 conv; defaults to
            ``min(4 * in_channels, 960)`` (n 448, t 640, s 960).
        dropout (float): Defaults to 0.1.
    """

    def __init__(self, num_classes, in_channels, mid_channels=None,
                 dropout=0.1, init_cfg=None, **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes={num_classes} must be positive')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.mid_channels = mid_channels or min(4 * in_channels, 960)
        self.conv_1x1_exp = nn.Sequential(
            Conv2dBN(in_channels, self.mid_channels), nn.SiLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.mid_channels, num_classes)

    def init_weights(self):
        super().init_weights()
        if self.init_cfg is None:
            nn.init.kaiming_normal_(self.conv_1x1_exp[0].c.weight,
                                    mode='fan_out')
            trunc_normal_(self.fc.weight, std=0.02)
            nn.init.zeros_(self.fc.bias)

    def pre_logits(self, feats):
        """The pooled 1x1-conv features (B, mid_channels)."""
        return self.pool(self.conv_1x1_exp(feats[-1])).flatten(1)

    def forward(self, feats):
        return self.fc(self.dropout(self.pre_logits(feats)))

    def switch_to_deploy(self):
        """Fold the BN into the 1x1 conv and run the SiLU inside it."""
        deploy_module(self)
