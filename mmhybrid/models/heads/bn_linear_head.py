"""Classification head: BatchNorm1d then Linear (SHViT's ``head``)."""
import torch.nn as nn
from mmpretrain.models.heads import ClsHead

from ...registry import register_model
from ..layers import BNLinear


@register_model
class BNLinearClsHead(ClsHead):
    """Pooled features -> BatchNorm1d -> Linear, with the upstream names
    ``head.bn`` and ``head.l``; ``switch_to_deploy()`` folds the BN.

    Args:
        num_classes (int): number of classes.
        in_channels (int): feature channels.
    """

    def __init__(self, num_classes, in_channels, init_cfg=None, **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes={num_classes} must be positive')
        self.num_classes = num_classes
        self.in_channels = in_channels
        fc = BNLinear(in_channels, num_classes)
        self.bn, self.l = fc.bn, fc.l

    def pre_logits(self, feats):
        return feats[-1]

    def forward(self, feats):
        return self.l(self.bn(self.pre_logits(feats)))

    def switch_to_deploy(self):
        if isinstance(self.bn, nn.Identity):
            return
        fc = BNLinear(self.in_channels, self.num_classes)
        fc.bn, fc.l = self.bn, self.l
        self.l = fc.fuse()
        self.bn = nn.Identity()
