# GA-CSWin-T Mask R-CNN 3x, COCO val2017 (CSWin paper): 49.0 box / 43.6 mask AP
_base_ = [
    '_base_/models/maskrcnn_ga_cswin_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '_base_/schedules/schedule_3x_adamw.py',
    '_base_/default_runtime_det.py'
]

# multi-scale training: short side drawn from 480..800 (step 32), long side
# at most 1333; testing stays single-scale 1333x800
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 480), (1333, 512), (1333, 544), (1333, 576),
                (1333, 608), (1333, 640), (1333, 672), (1333, 704),
                (1333, 736), (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
