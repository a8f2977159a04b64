# ImageNet classifier GA-ConvNeXt (official `GA/ga_convnext.py`): MMPretrain's
# own ConvNeXt with a narrowed stage 4 (no output norms: `out_indices=()`),
# wrapped by BlockTaps to return the four raw stage outputs and the stage-3
# maps after every depth // (taps + 1) blocks; the Gramian-attention head
# aggregates them on the stride-16 grid with an SE-bottleneck stage 5, then
# five branches (1x1 conv to 192 channels + BN, one ConvNeXt block, Gram
# matrix, grouped embedding, class attention of 8 heads x 21 channels with a
# 4-group MLP) whose logits are summed at inference.
# Training: BCE with label smoothing 0.1 on every branch + decorr_weight
# (-0.8, upstream's GA_lam) x the KL decorrelation term; Mixup 0.2, CutMix 1.0.
# Defaults to GA-ConvNeXt-T. Upstream spreads stochastic depth over 19 blocks
# (stage 5 counts) and gives stage 5 and the branch blocks the full rate;
# MMPretrain's ConvNeXt spreads it over its 18 blocks, so the backbone's
# `drop_path_rate` is upstream's x 17/18 (the same per-block rates); the
# class-attention blocks have none. Convs start truncated-normal (std 0.02).
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='BlockTaps',
        backbone=dict(
            type='ConvNeXt',
            arch=dict(depths=[3, 3, 9, 3], channels=[96, 192, 384, 688]),
            out_indices=(),
            drop_path_rate=0.2 * 17 / 18),
        stages=('stages.0', 'stages.1', 'stages.2', 'stages.3'),
        taps=('stages.2.2', 'stages.2.5')),
    head=dict(
        type='GAHead',
        num_classes=1000,
        in_channels=(96, 192, 384, 688),
        num_taps=2,
        tap_stage=2,
        embed_dim=688,
        stage5='bottleneck',
        gram_block='convnext',
        gram_dim=192,
        gram_groups=8,
        contraction_groups=1,
        ga_heads=8,
        ga_head_dim=21,
        ga_mlp_groups=4,
        drop_path_rate=0.2,
        ga_drop_path_rate=0.,
        decorr_weight=-0.8,
        loss=dict(
            type='LabelSmoothLoss',
            label_smooth_val=0.1,
            mode='original',
            use_sigmoid=True),
        topk=(1, 5)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.2),
        dict(type='CutMix', alpha=1.0)
    ]))
