# SHViT-S4 Mask R-CNN 1x, COCO val2017 upstream: 39.0 box AP / 35.9 mask AP
_base_ = [
    '_base_/models/maskrcnn_shvit_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]
