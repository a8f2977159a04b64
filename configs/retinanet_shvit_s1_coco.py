# SHViT-S1 RetinaNet 1x, COCO: no upstream number (only S4 is reported)
_base_ = [
    '_base_/models/retinanet_shvit_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]

model = dict(
    backbone=dict(arch='s1'), neck=dict(in_channels=[128, 224, 320]))
