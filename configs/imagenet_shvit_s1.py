# SHViT-S1 ImageNet-1k 224 px, 300 epochs: upstream top-1 72.8
_base_ = [
    '_base_/models/shvit_cls.py', '_base_/datasets/imagenet_shvit.py',
    '_base_/schedules/imagenet_bs2048_adamw_300e.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 72.8  # read by benchmark tools
