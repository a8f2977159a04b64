# HarmoVision-t ImageNet-1k, 300 epochs: upstream top-1 75.73
# (2.463M params, 0.562G FLOPs at 224; train 256, test 288 -> 256)
_base_ = [
    '_base_/models/harmovision_cls.py',
    '_base_/datasets/imagenet_harmovision.py',
    '_base_/schedules/imagenet_bs256_adamw_300e_harmovision.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 75.73  # read by benchmark tools

model = dict(backbone=dict(arch='t'), head=dict(in_channels=160))
