# ImageNet classifier: HarmoVision backbone (layer5, stride 32) and the
# upstream classifier (HarmoVisionClsHead: 1x1 conv -> min(4 x C5, 960) + BN +
# SiLU, global average pool, dropout 0.1, Linear); cross-entropy with label
# smoothing 0.1, no Mixup/CutMix (upstream HarmoVision-n/config.yaml:42-47,
# :67). Drop path 0.1 on every block's attention branch (upstream
# HarmoVision_block.py:393). Defaults to HarmoVision-s;
# a top-level config sets `arch` and the head's `in_channels` (the layer5
# width: n 112, t 160, s 256).
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='HarmoVision', arch='s', out_indices=(4, ), drop_path_rate=0.1),
    head=dict(
        type='HarmoVisionClsHead',
        num_classes=1000,
        in_channels=256,
        dropout=0.1,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)))
