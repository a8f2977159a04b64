# HarmoVision-n ImageNet-1k, 300 epochs: upstream top-1 73.18
# (1.354M params, 0.371G FLOPs at 224; train 256, test 288 -> 256)
_base_ = [
    '_base_/models/harmovision_cls.py',
    '_base_/datasets/imagenet_harmovision.py',
    '_base_/schedules/imagenet_bs256_adamw_300e_harmovision.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 73.18  # read by benchmark tools

model = dict(backbone=dict(arch='n'), head=dict(in_channels=112))
