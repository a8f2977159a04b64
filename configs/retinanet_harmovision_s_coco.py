# HarmoVision-s RetinaNet 1x, COCO: no upstream number (upstream reports
# SSDLite only; EMO-5M, a peer at this budget, reports 38.9 AP)
_base_ = [
    '_base_/models/retinanet_harmovision_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]
