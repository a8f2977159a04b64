# Mask R-CNN with a HarmoVision backbone (layer2..layer5, strides 4/8/16/32)
# and mmdet's standard FPN (strides 4..64). Backbone BatchNorms stay in eval
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
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    # HarmoVision's input is RGB in [0, 1], no mean/std, as its ImageNet
    # recipe (CVNets' ToTensor); the coarsest backbone map has stride 32
    data_preprocessor=dict(
        mean=[0., 0., 0.], std=[255., 255., 255.], pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='HarmoVision',
        arch='s',
        out_indices=(1, 2, 3, 4),
        frozen_stages=-1,
        norm_eval=True,
        with_cp=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 192, 256]))
