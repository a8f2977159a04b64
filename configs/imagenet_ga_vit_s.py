# GA-ViT-S ImageNet-1k 224 px, 300 epochs: upstream top-1 80.9 (27.7M,
# 4.3G). No public code exists for it: this head is designed from the paper
# and the two official implementations (GA-CSWin, GA-ConvNeXt). MMPretrain's
# VisionTransformer (DeiT-S: 12 layers of 384 channels, patch 16; in
# BlockTaps for a deploy form) returns the maps after layers 3, 6, 9 and 12
# (the last one normed), all on the stride-16 grid; they stand for the four
# stages, with no further taps. The GA-ConvNeXt head (SE-bottleneck stage 5,
# ConvNeXt branch blocks) at the ViT's width 384, with gram_dim 128,
# embedding groups 16 and an 8-group class-attention MLP (8 heads x 12
# channels), which brings the model to the paper's size. Recipe: the GA-CSWin
# command's (LAMB lr 2e-3, BCE, smoothing 0.1, decorr -0.8) with a 0.875 test
# crop; drop path 0.1 (DeiT-S; the paper gives none).
_base_ = [
    '_base_/models/ga_convnext_cls.py', '_base_/datasets/imagenet_ga_cswin.py',
    '_base_/schedules/imagenet_bs1024_lamb_300e.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 80.9  # read by benchmark tools

model = dict(
    backbone=dict(
        _delete_=True,
        type='BlockTaps',  # no taps: for its deploy form
        backbone=dict(
            type='VisionTransformer',
            arch='deit-small',
            img_size=224,
            patch_size=16,
            out_indices=(2, 5, 8, 11),
            out_type='featmap',
            drop_path_rate=0.1,
            init_cfg=[
                dict(type='TruncNormal', layer='Linear', std=.02),
                dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
            ]),
        stages=None),
    head=dict(
        in_channels=(384, 384, 384, 384),
        num_taps=0,
        tap_stage=3,
        embed_dim=384,
        gram_dim=128,
        gram_groups=16,
        ga_head_dim=12,
        ga_mlp_groups=8,
        drop_path_rate=0.1))
