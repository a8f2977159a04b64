# SHViT-S4 RetinaNet 1x, COCO val2017 upstream: 38.8 AP (AP50 59.8, AP75 41.1)
_base_ = [
    '_base_/models/retinanet_shvit_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]

# pad to a multiple of 32, as upstream trained and tested (its mmdet 2.25
# _base_/datasets/coco_detection.py: Pad size_divisor=32); the stride-64
# map rounds up
model = dict(data_preprocessor=dict(pad_size_divisor=32))
