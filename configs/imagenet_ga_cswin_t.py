# GA-CSWin-T ImageNet-1k 224 px, 300 epochs: upstream top-1 84.1 (42.0M, 6.1G)
_base_ = [
    '_base_/models/ga_cswin_cls.py', '_base_/datasets/imagenet_ga_cswin.py',
    '_base_/schedules/imagenet_bs1024_lamb_300e.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 84.1  # read by benchmark tools

# stem: CSWin's 7x7; upstream's is unpinned (class default: `stem='deep'`)
model = dict(
    backbone=dict(arch='t', stem='7x7', drop_path_rate=0.2),
    head=dict(drop_path_rate=0.2, ga_drop_path_rate=0.))

# test: GA-CSWin's crop_pct 0.9 (GA/ga_cswin.py:27): short edge 248, crop 224
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='mmpretrain.ResizeEdge',
        scale=248,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='mmpretrain.CenterCrop', crop_size=224),
    dict(type='mmpretrain.PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
