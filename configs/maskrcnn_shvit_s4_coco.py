# SHViT-S4 Mask R-CNN 1x, COCO val2017 upstream: 39.0 box AP / 35.9 mask AP
_base_ = [
    '_base_/models/maskrcnn_shvit_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]

# pad to a multiple of 32, as upstream trained and tested (its mmdet 2.25
# _base_/datasets/coco_instance.py: Pad size_divisor=32); the stride-64
# map rounds up
model = dict(data_preprocessor=dict(pad_size_divisor=32))
