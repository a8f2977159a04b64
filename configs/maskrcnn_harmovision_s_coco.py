# HarmoVision-s Mask R-CNN 1x, COCO: no upstream number (upstream reports
# SSDLite only)
_base_ = [
    '_base_/models/maskrcnn_harmovision_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]
