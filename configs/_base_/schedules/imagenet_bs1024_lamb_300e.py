# The GA ImageNet recipe (Lab-LVM/imagenet-models GA/README.md commands and
# GA/train.py defaults, timm): LAMB (timm's, as MMPretrain's: global gradient
# norm clipped at 1.0 inside the optimizer, no other clipping), lr 2e-3 at a
# batch of 1024 (128 x 2 GPUs x 4 accumulation steps upstream), eps 1e-8,
# betas (0.9, 0.999), weight decay 0.05 (not on 1-D parameters: norms,
# biases, LayerScales, as timm); a 3-epoch linear warm-up from 1e-6 (train.py
# default), then cosine to 1e-6 at epoch 300, stepped once per epoch as timm's
# scheduler does. `auto_scale_lr` rescales the LR for other batch sizes
# (enable it with `--auto-scale-lr`). Upstream trains in mixed precision
# (`--amp`; add `--amp` to tools/train.py to do the same).
optim_wrapper = dict(
    optimizer=dict(
        type='Lamb', lr=2e-3, eps=1e-8, betas=(0.9, 0.999),
        weight_decay=0.05),
    clip_grad=None,
    paramwise_cfg=dict(flat_decay_mult=0.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 2e-3, by_epoch=True, end=3),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=3,
        end=300)
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=1024)
