# Ablation of HarmoVision-s on ImageNet-1k, same recipe as the full model.
# LW-MHSA off: the local half passes through unchanged (Z0 = Y0);
# exactly that module's parameters are removed. No upstream number.
_base_ = '../imagenet_harmovision_s.py'
published_top1 = None

model = dict(backbone=dict(use_lw_mhsa=False))
