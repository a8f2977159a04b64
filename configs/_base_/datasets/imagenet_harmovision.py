# ImageNet-1k with the CVNets MobileViT augmentation used by HarmoVision:
# RandomResizedCrop (bilinear) + horizontal flip; train at 256 (the base size
# of upstream's multi-scale sampler), 32 images per GPU x 8 GPUs = 256.
# Test: resize the short edge to 288, centre-crop 256.
# Not reproduced: CVNets' variable-batch multi-scale sampler (crops 160-320
# with the batch size scaled by area); MMPretrain has no equivalent, so
# training uses the fixed base size.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32.py'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=256, interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
# transforms named with their scope: an mmpretrain inferencer builds this
# pipeline in whatever default scope an mmdet/mmseg one left behind
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='mmpretrain.ResizeEdge',
        scale=288,
        edge='short',
        interpolation='bilinear'),
    dict(type='mmpretrain.CenterCrop', crop_size=256),
    dict(type='mmpretrain.PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    persistent_workers=True,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    persistent_workers=True,
    dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
