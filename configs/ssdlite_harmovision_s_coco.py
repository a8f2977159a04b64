# HarmoVision-s SSDLite-320, COCO val2017: upstream 28.30 mAP (CVNets
# SSDLite; MobileViT-S 27.9, EMO-5M 27.9 under the same protocol).
# Recipe: Xuwei86/HarmoVision `HarmoVision model weight files/detection/
# HarmoVision-t/config.yaml` with the s values of its inline comments and the
# s model of `detection/HarmoVision-s/record.log`, on apple/ml-cvnets (card:
# metafiles/harmovision.yml). CVNets' SSD: layer4 and layer5 (output strides
# 16, 32: 20x20 and 10x10 at 320 px), three separable stride-2 levels
# (256, 128, 128 channels: 5x5, 3x3, 2x2) and a global level (pool + 1x1 ->
# 64); per level a 1x1 projection where the width differs from
# [512, 256, 256, 128, 128, 64] (layer4: 192 -> 512), then one separable conv
# predicting boxes and classes (1x1 on the global level).
# Upstream started from its HarmoVision-s ImageNet EMA checkpoint, which is not public: `init_cfg=None`.
_base_ = [
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py', '_base_/default_runtime_det.py'
]
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

input_size = 320
data_preprocessor = dict(
    type='DetDataPreprocessor',
    mean=[0., 0., 0.],  # input RGB in [0, 1] (CVNets' ToTensor default)
    std=[255., 255., 255.],
    bgr_to_rgb=True,
    pad_size_divisor=1)
sync_bn = 'torch'  # sync_batch_norm (config.yaml:86)
norm_cfg = dict(type='BN')
model = dict(
    type='SingleStageDetector',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='HarmoVision',
        arch='s',
        out_indices=(3, 4),
        frozen_stages=-1,
        norm_eval=False,
        with_cp=False,
        init_cfg=None),
    neck=dict(
        type='CVNetsSSDNeck',
        in_channels=(192, 256),
        extra_channels=(256, 128, 128),
        global_channels=64,
        norm_cfg=norm_cfg,
        act_cfg=dict(type='ReLU')),  # model.activation relu (:88-89)
    bbox_head=dict(
        type='CVNetsSSDHead',
        in_channels=(192, 256, 256, 128, 128, 64),
        proj_channels=(512, 256, 256, 128, 128, 64),
        kernel_sizes=(3, 3, 3, 3, 3, 1),
        num_classes=80,
        norm_cfg=norm_cfg,
        act_cfg=dict(type='ReLU'),
        anchor_generator=dict(
            type='CVNetsSSDAnchorGenerator',
            input_size=input_size,
            # input_size / feature map size: CVNets' centres (j + .5) / W
            strides=[16, 32, 64, input_size / 3, 160, 320],
            ratios=[[2, 3], [2, 3], [2, 3], [2, 3], [2, 3], [2]],
            min_scale_ratio=0.1,
            max_scale_ratio=1.05),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[0.1, 0.1, 0.2, 0.2])),  # variances 0.1 / 0.2
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.5,
            min_pos_iou=0.,
            ignore_iof_thr=-1,
            gt_max_assign_all=False),
        sampler=dict(type='PseudoSampler'),
        smoothl1_beta=1.,
        allowed_border=-1,
        pos_weight=-1,
        neg_pos_ratio=3,
        debug=False),
    # CVNets (ssd.py:143-148): score > 0.01, top 400 per class, NMS 0.5,
    # 200 per image; mmdet keeps the top nms_pre (anchor, class) pairs
    # overall instead of 400 per class: 400 x 80.
    test_cfg=dict(
        nms_pre=32000,
        nms=dict(type='nms', iou_threshold=0.5),
        min_bbox_size=0,
        score_thr=0.01,
        max_per_img=200))

# CVNets' SSD training transforms, in its order (coco_ssd.py:71-78): SSD
# crop, photometric distortion, flip, 320x320 bicubic resize. mmdet's
# MinIoURandomCrop also has an unconstrained-crop mode and asks ALL boxes
# (CVNets: any box) to reach the IoU; its photometric brightness is
# +-16 levels (CVNets: factor 0.875-1.125).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='MinIoURandomCrop',
        min_ious=(0.1, 0.3, 0.5, 0.7, 0.9),
        min_crop_size=0.3),
    dict(
        type='PhotoMetricDistortion',
        brightness_delta=16,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=9),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='Resize',
        scale=(input_size, input_size),
        keep_ratio=False,
        interpolation='bicubic'),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='Resize',
        scale=(input_size, input_size),
        keep_ratio=False,
        interpolation='bicubic'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
# 64 images per GPU (config.yaml:14; its comment "128 (32 * 4 GPUs)" is
# CVNets' template's); the GPU count is not stated, the upstream README
# says single-GPU training (README.md:13): 64 x 1.
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    dataset=dict(
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# AdamW 1e-3 (betas 0.9 / 0.999), wd 0.01 on every parameter; 500 warm-up
# iterations from 9e-5, then cosine over 200 epochs to 1.2e-5 (config.yaml:
# 36-51, s values of its comments). Mixed precision (config.yaml:8): train
# with `tools/train.py --amp`.
max_epochs = 200
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-3,
        betas=(0.9, 0.999),
        weight_decay=0.01))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=9e-5 / 1e-3,
        by_epoch=False,
        begin=0,
        end=500),
    dict(
        type='CosineAnnealingLR',
        begin=0,
        T_max=max_epochs,
        end=max_epochs,
        by_epoch=True,
        eta_min=1.2e-5)
]
# EMA momentum 1.5e-4 over parameters AND buffers (CVNets' EMA averages the
# whole state_dict, averaging_utils.py:47-55); validation and test use the
# EMA weights: the upstream score is the EMA model's (config.yaml:95-97).
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(
        type='EMAHook',
        ema_type='ExponentialMovingAverage',
        momentum=1.5e-4,
        update_buffers=True,
        priority='ABOVE_NORMAL')
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
