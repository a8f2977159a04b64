# SHViT-S3 RetinaNet 1x, COCO: no upstream number (only S4 is reported)
_base_ = [
    '_base_/models/retinanet_shvit_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]

model = dict(
    backbone=dict(arch='s3'), neck=dict(in_channels=[192, 352, 448]))
