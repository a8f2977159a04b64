# ImageNet-1k at 224 px with the SHViT (DeiT-style) augmentation: bicubic
# RandomResizedCrop, flip, RandAugment m9-mstd0.5, random erasing 0.25 (all
# from mmpretrain's Swin pipeline), repeated augmentation; 256 images per GPU
# x 8 GPUs = 2048. Test: resize the short edge to 256, centre-crop 224.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py'

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
    batch_size=256,
    persistent_workers=True,
    sampler=dict(type='RepeatAugSampler', num_repeats=3, shuffle=True))
val_dataloader = dict(
    batch_size=256,
    persistent_workers=True,
    dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
