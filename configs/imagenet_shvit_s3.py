# SHViT-S3 ImageNet-1k 224 px, 300 epochs: upstream top-1 77.4
_base_ = [
    '_base_/models/shvit_cls.py', '_base_/datasets/imagenet_shvit.py',
    '_base_/schedules/imagenet_bs2048_adamw_300e.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 77.4  # read by benchmark tools

model = dict(backbone=dict(arch='s3'), head=dict(in_channels=448))
optim_wrapper = dict(optimizer=dict(weight_decay=0.035))
