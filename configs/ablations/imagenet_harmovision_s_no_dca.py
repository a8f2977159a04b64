# Ablation of HarmoVision-s on ImageNet-1k, same recipe as the full model.
# DCA off: no channel gate on the local half (Z0' = Z0);
# exactly that module's parameters are removed. No upstream number.
_base_ = '../imagenet_harmovision_s.py'
published_top1 = None

model = dict(backbone=dict(use_dca=False))
