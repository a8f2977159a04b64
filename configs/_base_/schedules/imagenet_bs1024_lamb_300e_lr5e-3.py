# The GA-ConvNeXt recipe: as the GA-CSWin one (LAMB, weight decay 0.05, 300
# epochs cosine to 1e-6 after a 5-epoch warm-up from 1e-6) at lr 5e-3 for a
# batch of 1024 (128 x 2 GPUs x 4 accumulation steps upstream).
_base_ = 'imagenet_bs1024_lamb_300e.py'

optim_wrapper = dict(optimizer=dict(lr=5e-3))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / 5e-3,
        by_epoch=True,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=5,
        end=300,
        convert_to_iter_based=True)
]
