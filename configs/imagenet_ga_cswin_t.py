# GA-CSWin-T ImageNet-1k 224 px, 300 epochs: upstream top-1 84.1 (42.0M, 6.1G)
_base_ = [
    '_base_/models/ga_cswin_cls.py', '_base_/datasets/imagenet_ga_cswin.py',
    '_base_/schedules/imagenet_bs1024_lamb_300e.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 84.1  # read by benchmark tools

model = dict(backbone=dict(arch='t', drop_path_rate=0.2))
