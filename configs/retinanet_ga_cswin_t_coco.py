# GA-CSWin-T RetinaNet 1x, COCO: no upstream number (CSWin/GA report none)
_base_ = [
    '_base_/models/retinanet_ga_cswin_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]
