# Ablation of HarmoVision-s on ImageNet-1k, same recipe as the full model.
# CGSA off: the global half passes through unchanged (Z1 = Y1);
# exactly that module's parameters are removed. No upstream number.
_base_ = '../imagenet_harmovision_s.py'
published_top1 = None

model = dict(backbone=dict(use_cgsa=False))
