# ImageNet-1k at 224 px with GA's augmentation (GA/train.py defaults, timm):
# RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3), flip 0.5, RandAugment
# m9-mstd0.5-inc1, each resizing with bilinear or bicubic drawn at random
# (`--train-interpolation random`; timm draws per RandAugment op, here per
# image), no colour jitter (timm skips it under RandAugment), no random
# erasing; repeated augmentation x3; 128 images per GPU x 8 GPUs = 1024.
# Test: resize the short edge to 256, centre-crop 224 (crop_pct 0.875, GA's
# ConvNeXt default; the GA-CSWin configs use 248, crop_pct 0.9), bicubic.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py'

bgr_mean = [103.53, 116.28, 123.675]
pad_val = [round(x) for x in bgr_mean]
rrc = dict(
    type='RandomResizedCrop',
    scale=224,
    crop_ratio_range=(0.08, 1.0),
    aspect_ratio_range=(3. / 4., 4. / 3.),
    backend='pillow')
rand_augment = dict(
    type='RandAugment',
    policies='timm_increasing',
    num_policies=2,
    total_level=10,
    magnitude_level=9,
    magnitude_std=0.5)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomChoice',
        transforms=[[dict(rrc, interpolation='bilinear')],
                    [dict(rrc, interpolation='bicubic')]]),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(rand_augment, hparams=dict(pad_val=pad_val,
                                             interpolation='bilinear'))],
            [dict(rand_augment, hparams=dict(pad_val=pad_val,
                                             interpolation='bicubic'))],
        ]),
    dict(type='PackInputs'),
]

# The test pipeline names its transforms with their scope (mmpretrain.X):
# mmengine resolves them from any default scope, so an mmpretrain inferencer
# builds it after an mmdet or mmseg one set theirs.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='mmpretrain.ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='mmpretrain.CenterCrop', crop_size=224),
    dict(type='mmpretrain.PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    persistent_workers=True,
    dataset=dict(data_root='data/imagenet', pipeline=train_pipeline),
    sampler=dict(type='RepeatAugSampler', shuffle=True, num_repeats=3))
val_dataloader = dict(
    batch_size=128,
    persistent_workers=True,
    dataset=dict(data_root='data/imagenet', pipeline=test_pipeline))
test_dataloader = val_dataloader
