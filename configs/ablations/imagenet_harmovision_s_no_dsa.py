# Ablation of HarmoVision-s on ImageNet-1k, same recipe as the full model.
# DSA off: no directional spatial gate on the global half (Z1' = Z1);
# exactly that module's parameters are removed. No upstream number.
_base_ = '../imagenet_harmovision_s.py'
published_top1 = None

model = dict(backbone=dict(use_dsa=False))
