# ImageNet classifier: SHViT backbone (last stage, stride 64), global average
# pooling, BatchNorm1d + Linear head (SHViT's `head.bn`/`head.l`). Defaults to
# SHViT-S1; a top-level config sets `arch` and the head's `in_channels` (the
# last-stage width: s1 320, s2 448, s3 448, s4 448).
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='SHViT', arch='s1', out_indices=(2, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='BNLinearClsHead',
        num_classes=1000,
        in_channels=320,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))
