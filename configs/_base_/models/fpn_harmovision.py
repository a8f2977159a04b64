# Semantic FPN with a HarmoVision backbone (layer2..layer5, strides
# 4/8/16/32) and mmseg's standard FPN neck. Backbone BatchNorms stay in eval
# mode (2 images per GPU). Defaults to HarmoVision-s; a top-level config sets
# `arch` and the neck's `in_channels` (n [48, 64, 80, 112], t [64, 96, 128,
# 160], s [64, 128, 192, 256]).
#
# No HarmoVision weights are published, so `init_cfg=None`; to start from
# an ImageNet run of configs/imagenet_harmovision_s.py, append
#   --cfg-options model.backbone.init_cfg._delete_=True \
#       model.backbone.init_cfg.type=Pretrained \
#       model.backbone.init_cfg.checkpoint=work_dirs/.../epoch_300.pth \
#       model.backbone.init_cfg.prefix=backbone.
_base_ = 'mmseg::_base_/models/fpn_r50.py'

custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    # HarmoVision's input is RGB in [0, 1], no mean/std, as its ImageNet
    # recipe (CVNets' ToTensor); pad test images to a multiple of the
    # coarsest backbone stride (32)
    data_preprocessor=dict(
        mean=[0., 0., 0.], std=[255., 255., 255.],
        test_cfg=dict(size_divisor=32)),
    backbone=dict(
        _delete_=True,
        type='HarmoVision',
        arch='s',
        out_indices=(1, 2, 3, 4),
        frozen_stages=-1,
        norm_eval=True,
        with_cp=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 192, 256], out_channels=256, num_outs=4),
    decode_head=dict(
        in_channels=[256, 256, 256, 256], feature_strides=[4, 8, 16, 32]))
