# GA-ConvNeXt-B ImageNet-1k 224 px, 300 epochs: upstream top-1 84.3 (124.3M,
# 19.0G); official `ga_convnext_base_976`: dims 128/256/512/976, depths
# 3/3/27/3, stage-3 taps after blocks 5, 10, 15, 20, class attention of
# 8 heads x 30 channels (dim_embed 240), drop path 0.5 (x 35/36 in the
# backbone: see the base model)
_base_ = './imagenet_ga_convnext_t.py'
published_top1 = 84.3  # read by benchmark tools

model = dict(
    backbone=dict(
        backbone=dict(
            arch=dict(depths=[3, 3, 27, 3], channels=[128, 256, 512, 976]),
            drop_path_rate=0.5 * 35 / 36),
        taps=('stages.2.4', 'stages.2.9', 'stages.2.14', 'stages.2.19')),
    head=dict(
        in_channels=(128, 256, 512, 976),
        num_taps=4,
        embed_dim=976,
        ga_head_dim=30,
        drop_path_rate=0.5))
