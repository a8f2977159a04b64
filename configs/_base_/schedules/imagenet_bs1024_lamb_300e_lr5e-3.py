# The GA-ConvNeXt recipe: as the GA-CSWin one (LAMB, eps 1e-8, weight decay
# 0.05, 3-epoch warm-up from 1e-6, cosine to 1e-6 at epoch 300, per epoch)
# at lr 5e-3 for a batch of 1024 (128 x 2 GPUs x 4 accumulation steps
# upstream).
_base_ = 'imagenet_bs1024_lamb_300e.py'

optim_wrapper = dict(optimizer=dict(lr=5e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 5e-3, by_epoch=True, end=3),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=3,
        end=300)
]
