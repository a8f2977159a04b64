# HarmoVision-t ImageNet-1k, 300 epochs: upstream top-1 75.73 (the EMA's)
# (2.463M params, 0.562G FLOPs at 224; train 160-320 px, test 288 -> 256)
# Unpinned: upstream's one recipe file is HarmoVision-n's; t assumed the same.
_base_ = [
    '_base_/models/harmovision_cls.py',
    '_base_/datasets/imagenet_harmovision.py',
    '_base_/schedules/imagenet_bs256_adamw_300e_harmovision.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 75.73  # read by benchmark tools

# mmhybrid.datasets: the multi-scale variable-batch sampler
custom_imports = dict(
    imports=['mmhybrid.models', 'mmhybrid.datasets'],
    allow_failed_imports=False)

model = dict(backbone=dict(arch='t'), head=dict(in_channels=160))

# CVNets keeps the best EMA checkpoint by top-1 (config.yaml:95-96)
default_hooks = dict(
    checkpoint=dict(save_best='accuracy/top1', rule='greater'))
