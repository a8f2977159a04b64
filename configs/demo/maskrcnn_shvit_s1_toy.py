# Mask R-CNN + SHViT-S1 + transposed-conv FPN on the synthetic toy COCO set
# (tools/misc/make_toy_data.py), trained from scratch on CPU in minutes.
# Not a benchmark: it proves the detector learns. The full-size counterpart
# is configs/maskrcnn_shvit_s1_coco.py. Shrunk for CPU: 64-channel neck and
# heads, fewer proposals and sampled RoIs, 128 px images.
# Measured by `make demo` (2 CPU cores, ~3.5 min of training): test bbox_mAP
# 0.71, segm_mAP 0.75 on the 48 val images.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '../_base_/default_runtime_det.py',
]
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

classes = ('ellipse', 'rectangle', 'triangle')
num_classes = len(classes)
data_root = 'data/toy/coco/'
img_scale = (128, 128)
neck_channels = 64
max_epochs = 12

model = dict(
    data_preprocessor=dict(pad_size_divisor=64),
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
        num_outs=5,  # strides 4, 8, 16, 32, 64
        num_upsample=2,
        norm_cfg=dict(type='BN', requires_grad=True)),
    rpn_head=dict(in_channels=neck_channels, feat_channels=neck_channels),
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), out_channels=neck_channels),
        bbox_head=dict(
            in_channels=neck_channels,
            fc_out_channels=256,
            num_classes=num_classes),
        mask_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=2), out_channels=neck_channels),
        mask_head=dict(
            num_convs=2,
            in_channels=neck_channels,
            conv_out_channels=neck_channels,
            num_classes=num_classes,
            norm_cfg=dict(type='BN', requires_grad=True))),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=600, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(max_per_img=20)))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root +
                     'annotations/instances_val2017.json')
test_evaluator = val_evaluator

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=60),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True)
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='SafeCheckpointHook', interval=max_epochs,
                    max_keep_ckpts=1, save_last=True))
log_processor = dict(window_size=5)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
