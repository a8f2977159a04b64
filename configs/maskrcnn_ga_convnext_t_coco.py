# GA-ConvNeXt-T Mask R-CNN 1x on COCO: the backbone of the GA-ConvNeXt-T
# classifier without its GA head (the GA heads are classification-only; the
# GA paper reports no detection result for it). MMPretrain's ConvNeXt with
# the narrowed stage 4 (96/192/384/688 channels, strides 4-32, each output
# through its own LayerNorm2d) and mmdet's standard FPN; drop path 0.2 as
# the classifier.
#
# ImageNet weights are not bundled, so `init_cfg=None`. To start from a
# GA-ConvNeXt-T classifier converted by
# tools/model_converters/convert.py (its ConvNeXt sits under
# `backbone.backbone.`; the output norms start fresh), append
#   --cfg-options model.backbone.init_cfg._delete_=True \
#       model.backbone.init_cfg.type=CheckedPretrained \
#       model.backbone.init_cfg.prefix=backbone.backbone. \
#       model.backbone.init_cfg.checkpoint=checkpoints/ga_convnext_t.pth \
#       'model.backbone.init_cfg.allowed_missing=[norm*]'
# (checkpoints/ga_convnext_t.pth: the converter's output). CheckedPretrained
# (mmhybrid.models.utils.init) refuses a file that does not fit, where
# mmengine's Pretrained would leave the backbone random with a warning.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]

custom_imports = dict(
    imports=['mmhybrid.models', 'mmpretrain.models'],
    allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ConvNeXt',
        arch=dict(depths=[3, 3, 9, 3], channels=[96, 192, 384, 688]),
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        drop_path_rate=0.2,
        with_cp=False,
        init_cfg=None),
    neck=dict(in_channels=[96, 192, 384, 688]))
