"""CVNets' DeepLabv3 ASPP head (apple/ml-cvnets ``cvnets/modules/
aspp_block.py``, ``cvnets/models/segmentation/heads/deeplabv3.py``)."""
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads import ASPPHead

from ...registry import register_model


@register_model
class CVNetsASPPHead(ASPPHead):
    """mmseg's :class:`ASPPHead` whose projection of the concatenated
    branches is a 1x1 conv + BN + act, as CVNets' ``ASPP.project`` (mmseg's
    is 3x3). The rest is the same: a 1x1 branch, 3x3 branches at the atrous
    ``dilations``, the image-pool branch (global average pool, 1x1 conv + BN
    + act, broadcast back), then ``Dropout2d(dropout_ratio)`` and a 1x1
    classifier with bias. Branch order in the concatenation differs
    (mmseg: pool first; CVNets: pool last), which only matters for
    converting weights.

    Args:
        **kwargs: :class:`ASPPHead`'s arguments.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bottleneck = ConvModule(
            (len(self.dilations) + 1) * self.channels, self.channels, 1,
            conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
