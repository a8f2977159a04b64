# RetinaNet with an SHViT backbone (strides 16/32/64) and the transposed-conv
# FPN of the official SHViT detector: one 2x2 stride-2 ConvTranspose2d adds
# stride 8 and a 3x3 stride-2 conv on the last backbone map adds stride 128,
# so the head sees strides 8, 16, 32, 64, 128 as with a ResNet FPN.
# Defaults to SHViT-S4; a top-level config sets `arch` and the neck's
# `in_channels` (s1 [128, 224, 320], s2 [128, 308, 448], s3 [192, 352, 448],
# s4 [224, 336, 448]).
#
# ImageNet-1k weights are not bundled, so `init_cfg=None`. Upstream starts
# from them; to do the same (official, timm or mmhybrid layout), append
#   --cfg-options model.backbone.init_cfg._delete_=True \
#       model.backbone.init_cfg.type=Pretrained \
#       model.backbone.init_cfg.checkpoint=checkpoints/shvit_s4.pth
# or, in a child config:
#   model = dict(backbone=dict(init_cfg=dict(
#       _delete_=True, type='Pretrained',
#       checkpoint='checkpoints/shvit_s4.pth')))
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    # the coarsest backbone map has stride 64
    data_preprocessor=dict(pad_size_divisor=64),
    backbone=dict(
        _delete_=True,
        type='SHViT',
        arch='s4',
        out_indices=(0, 1, 2),
        frozen_stages=-1,
        norm_eval=True,
        with_cp=False,
        init_cfg=None),
    neck=dict(
        _delete_=True,
        type='TransposedConvFPN',
        in_channels=[224, 336, 448],
        out_channels=256,
        num_upsample=1,
        add_extra_convs='on_input',
        num_outs=5))
