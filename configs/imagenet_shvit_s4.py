# SHViT-S4 ImageNet-1k 256 px, 300 epochs: upstream top-1 79.4
_base_ = [
    '_base_/models/shvit_cls.py', '_base_/datasets/imagenet_shvit_256.py',
    '_base_/schedules/imagenet_bs2048_adamw_300e.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 79.4  # read by benchmark tools

model = dict(backbone=dict(arch='s4'), head=dict(in_channels=448))
optim_wrapper = dict(optimizer=dict(weight_decay=0.03))
