# GA-CSWin-S ImageNet-1k 224 px, 300 epochs: upstream top-1 84.7 (54.3M, 8.7G)
# stem: CSWin's 7x7, as imagenet_ga_cswin_t.py (upstream's is unpinned)
_base_ = './imagenet_ga_cswin_t.py'
published_top1 = 84.7  # read by benchmark tools

# stage 3 of arch 's' has 32 blocks: taps after blocks 6, 12, 18, 24;
# drop path 0.4 (README command) in the backbone, stage 5 and Gram branches
model = dict(
    backbone=dict(
        arch='s', drop_path_rate=0.4, taps=dict(blocks=(5, 11, 17, 23))),
    head=dict(drop_path_rate=0.4))
