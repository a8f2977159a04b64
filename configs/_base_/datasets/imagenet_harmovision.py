# ImageNet-1k as CVNets feeds HarmoVision (upstream: `HarmoVision model
# weight files/classification/HarmoVision-n/config.yaml`, CVNets' ImageNet
# dataset and `image_pil` transforms):
# - train: CVNets' variable-batch multi-scale sampler (config.yaml:31-41):
#   each batch is cropped to one of 160/192/256/288/320 px, 256 images per
#   GPU at the base 256 (config.yaml:12) and the batch scaled by area
#   (655/455/256/202/163), mmhybrid.datasets.VariableBatchSampler; then
#   RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) to that size, bilinear,
#   and a horizontal flip (config.yaml:18-23); images read (EXIF orientation
#   ignored) and resized with PIL as CVNets does.
# - test: short edge 288, bilinear, centre crop 256 (config.yaml:24-30).
# - input: RGB scaled to [0, 1], no mean/std (CVNets' ToTensor default).
# Upstream trained on one GPU (README: single-GPU training); with N GPUs
# the batch is N x 256: add `--auto-scale-lr` to keep lr per image.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32.py'

data_preprocessor = dict(mean=[0., 0., 0.], std=[255., 255., 255.])

train_pipeline = [
    dict(
        type='LoadImageFromFile',
        imdecode_backend='pillow',
        color_type='color_ignore_orientation'),
    dict(
        type='VariableRandomResizedCrop',
        scale=256,
        interpolation='bilinear',
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
# transforms named with their scope: an mmpretrain inferencer builds this
# pipeline in whatever default scope an mmdet/mmseg one left behind
test_pipeline = [
    dict(
        type='LoadImageFromFile',
        imdecode_backend='pillow',
        color_type='color_ignore_orientation'),
    dict(
        type='mmpretrain.ResizeEdge',
        scale=288,
        edge='short',
        interpolation='bilinear',
        backend='pillow'),
    dict(type='mmpretrain.CenterCrop', crop_size=256),
    dict(type='mmpretrain.PackInputs'),
]

train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    batch_sampler=dict(
        type='VariableBatchSampler',
        base_size=(256, 256),
        min_size=(160, 160),
        max_size=(320, 320),
        num_scales=5,
        size_divisor=32),
    dataset=dict(
        _delete_=True,
        type='VariableBatchDataset',
        dataset=dict(
            type='ImageNet',
            data_root='data/imagenet',
            split='train',
            pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=100,
    persistent_workers=True,
    dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
