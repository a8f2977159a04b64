# UperNet with an SHViT backbone (strides 16/32/64). SHViT has no
# segmentation recipe upstream; this pairs it with the transposed-conv FPN of
# the official SHViT detector so that UPerHead sees strides 4, 8, 16 and 32
# (num_outs=4 drops the stride-64 output; that map still feeds the top-down
# path). All four levels have `out_channels` channels. Backbone BatchNorms
# stay in eval mode as in the official detection recipe (SHViT uses plain BN,
# and 2 images per GPU are too few for its statistics). Defaults to SHViT-S4;
# a top-level config sets `arch` and the neck's `in_channels` (s1 [128, 224,
# 320], s2 [128, 308, 448], s3 [192, 352, 448], s4 [224, 336, 448]).
#
# ImageNet-1k weights are not bundled, so `init_cfg=None`; to start from them
# (official, timm or mmhybrid layout), append
#   --cfg-options model.backbone.init_cfg._delete_=True \
#       model.backbone.init_cfg.type=Pretrained \
#       model.backbone.init_cfg.checkpoint=checkpoints/shvit_s4.pth
_base_ = 'mmseg::_base_/models/upernet_r50.py'

custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    # pad test images to a multiple of the coarsest backbone stride (64)
    data_preprocessor=dict(test_cfg=dict(size_divisor=64)),
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
        type='TransposedConvFPN',
        in_channels=[224, 336, 448],
        out_channels=256,
        num_upsample=2,
        num_outs=4),
    decode_head=dict(in_channels=[256, 256, 256, 256], in_index=[0, 1, 2, 3]),
    auxiliary_head=dict(in_channels=256, in_index=2))
