# Semantic FPN + SHViT-S1 + transposed-conv FPN on the synthetic toy
# ADE20K-layout set (tools/misc/make_toy_data.py), trained from scratch on CPU
# in minutes. Not a benchmark: it proves the segmentor learns. The full-size
# counterpart is configs/fpn_shvit_s4_ade20k.py. Shrunk for CPU: 64-channel
# neck and head, 128 px images. Label 0 (background) is a real class here.
# Measured by `make demo` (2 CPU cores, ~1.5 min of training): test mIoU 90.4
# (background 98.5, shapes 84-92) on the 48 val images.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    '../_base_/default_runtime_seg.py',
]
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

classes = ('background', 'ellipse', 'rectangle', 'triangle')
palette = [[0, 0, 0], [60, 190, 70], [220, 60, 50], [60, 90, 220]]
data_root = 'data/toy/ade/ADEChallengeData2016/'
img_scale = (128, 128)
neck_channels = 64
max_iters = 300

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size_divisor=64),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='SHViT',
        arch='s1',
        out_indices=(0, 1, 2),
        frozen_stages=-1,
        norm_eval=False,  # trained from scratch: BN statistics must move
        with_cp=False,
        init_cfg=None),
    neck=dict(
        _delete_=True,
        type='TransposedConvFPN',
        in_channels=[128, 224, 320],
        out_channels=neck_channels,
        num_outs=4,  # strides 4, 8, 16, 32
        num_upsample=2,
        norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=[neck_channels] * 4,
        channels=neck_channels,
        num_classes=len(classes),
        norm_cfg=norm_cfg))

dataset_type = 'BaseSegDataset'
metainfo = dict(classes=classes, palette=palette)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=False,
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.01),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=40),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, by_epoch=False, begin=0,
         end=max_iters)
]

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
