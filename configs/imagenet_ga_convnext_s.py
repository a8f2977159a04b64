# GA-ConvNeXt-S ImageNet-1k 224 px, 300 epochs: upstream top-1 83.9 (70.4M,
# 10.5G); official `ga_convnext_small_688`: dims 96/192/384/688, depths
# 3/3/27/3, stage-3 taps after blocks 5, 10, 15, 20 (every 27 // 5), drop
# path 0.4 (x 35/36 in the backbone: see the base model)
_base_ = './imagenet_ga_convnext_t.py'
published_top1 = 83.9  # read by benchmark tools

model = dict(
    backbone=dict(
        backbone=dict(
            arch=dict(depths=[3, 3, 27, 3], channels=[96, 192, 384, 688]),
            drop_path_rate=0.4 * 35 / 36),
        taps=('stages.2.4', 'stages.2.9', 'stages.2.14', 'stages.2.19')),
    head=dict(num_taps=4, drop_path_rate=0.4))
