# GA-CSWin-S ImageNet-1k 224 px, 300 epochs: upstream top-1 84.7 (54.3M, 8.7G)
_base_ = [
    '_base_/models/ga_cswin_cls.py', '_base_/datasets/imagenet_ga_cswin.py',
    '_base_/schedules/imagenet_bs1024_lamb_300e.py',
    '_base_/default_runtime_cls.py'
]
published_top1 = 84.7  # read by benchmark tools

# stage 3 of arch 's' has 32 blocks: taps after blocks 6, 12, 18, 24
model = dict(
    backbone=dict(
        arch='s', drop_path_rate=0.4, taps=dict(blocks=(5, 11, 17, 23))))
