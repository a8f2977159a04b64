# ImageNet classifier GA-CSWin: the CSWin backbone returns its four raw stage
# outputs (no output norms) plus the stage-3 maps after blocks 4, 8, 12, 16
# (every depth // 5 blocks, at most 4; 0-based block indices in `taps`), the
# Gramian-attention head aggregates them (stage 5) and sums its five branch
# logits at inference.
# Training: BCE with label smoothing 0.1 on every branch (averaged over batch
# x classes, as upstream's timm loss) + decorr_weight (-0.8) x the KL
# decorrelation term; Mixup 0.2 and CutMix 1.0. Stochastic depth as upstream
# (GA/ga_cswin.py:486, 538, 571, 585): rising linearly over the backbone's
# blocks to `drop_path_rate`, the full rate on the stage-5 block and on the
# five Gram-branch blocks, none on the class-attention blocks. Defaults to
# GA-CSWin-T; a top-level config sets `arch` and both drop-path rates.
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='CSWin',
        arch='t',
        stem='7x7',
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        out_norm=False,
        taps=dict(stage=2, blocks=(3, 7, 11, 15))),
    head=dict(
        type='GAHead',
        num_classes=1000,
        in_channels=(64, 128, 256, 512),
        num_taps=4,
        tap_stage=2,
        drop_path_rate=0.2,  # stage 5 and the Gram branches: dpr[-1]
        ga_drop_path_rate=0.,  # class attention
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
