# SHViT-S1 Mask R-CNN 1x, COCO: no upstream number (only S4 is reported)
_base_ = [
    '_base_/models/maskrcnn_shvit_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]

model = dict(
    backbone=dict(arch='s1'), neck=dict(in_channels=[128, 224, 320]))
