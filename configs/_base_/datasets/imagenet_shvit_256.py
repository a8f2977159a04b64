# ImageNet-1k at 256 px (SHViT-S4) with the SHViT (DeiT-style) augmentation:
# bicubic RandomResizedCrop, flip, RandAugment m9-mstd0.5, random erasing 0.25
# (all from mmpretrain's Swin pipeline), repeated augmentation; 256 images per
# GPU x 8 GPUs = 2048. Test: resize the short edge to 292 (256 / 0.875),
# centre-crop 256.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64_swin_256.py'

train_dataloader = dict(
    batch_size=256,
    persistent_workers=True,
    sampler=dict(type='RepeatAugSampler', shuffle=True))
val_dataloader = dict(batch_size=256, persistent_workers=True)
test_dataloader = val_dataloader
