# GA-ConvNeXt-T ImageNet-1k 224 px, 300 epochs: upstream top-1 83.2 (48.7M,
# 6.3G); official `ga_convnext_tiny_688`: dims 96/192/384/688, depths
# 3/3/9/3, stage-3 taps after blocks 3 and 6, drop path 0.2
_base_ = [
    '_base_/models/ga_convnext_cls.py', '_base_/datasets/imagenet_ga_cswin.py',
    '_base_/schedules/imagenet_bs1024_lamb_300e_lr5e-3.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 83.2  # read by benchmark tools
