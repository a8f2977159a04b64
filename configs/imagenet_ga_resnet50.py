# GA-ResNet50 ImageNet-1k 224 px, 300 epochs: upstream top-1 82.5 (41.3M,
# 5.2G). No public code exists for it: this head is designed from the paper
# and the two official implementations (GA-CSWin, GA-ConvNeXt). MMPretrain's
# ResNet-50 (raw layer1..layer4 outputs, 256/512/1024/2048 channels) in
# BlockTaps, with the official GA-ConvNeXt rule for the stage-3 taps (a stage
# of more than 5 blocks is tapped every depth // 3 blocks, twice: after
# blocks 2 and 4 of layer3); the GA-ConvNeXt head (SE-bottleneck stage 5 on
# the stride-16 grid, ConvNeXt branch blocks, gram_dim 192, class attention
# of 8 heads with dim_embed = embed_dim / 4) at embed_dim 512, which brings
# the model to the paper's size. Recipe: the GA-ConvNeXt one (LAMB lr 5e-3,
# BCE, smoothing 0.1, decorr -0.8); drop path 0.05 (timm's ResNet-50 A1
# recipe; the paper gives none).
_base_ = './imagenet_ga_convnext_t.py'
published_top1 = 82.5  # read by benchmark tools

model = dict(
    backbone=dict(
        _delete_=True,
        type='BlockTaps',
        backbone=dict(
            type='ResNet',
            depth=50,
            out_indices=(3, ),
            drop_path_rate=0.05),
        stages=('layer1', 'layer2', 'layer3', 'layer4'),
        taps=('layer3.1', 'layer3.3')),
    head=dict(
        in_channels=(256, 512, 1024, 2048),
        num_taps=2,
        embed_dim=512,
        ga_head_dim=16,
        drop_path_rate=0.05))
