# GA-CSWin-S Mask R-CNN 1x, COCO val2017 (CSWin paper): 47.9 box / 43.2 mask AP
_base_ = [
    '_base_/models/maskrcnn_ga_cswin_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]

model = dict(backbone=dict(arch='s', drop_path_rate=0.3))
