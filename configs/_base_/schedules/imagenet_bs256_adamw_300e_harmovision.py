# The HarmoVision ImageNet recipe (CVNets): AdamW, weight decay 5e-4, max LR
# 1.5e-3 at batch 256, 20k-iteration linear warm-up (from 2e-4, CVNets'
# MobileViT warm-up start), then cosine to 2e-4 (CVNets' MobileViT minimum;
# the logs give no minimum) by epoch 300; EMA of the weights with CVNets'
# momentum 5e-4. `auto_scale_lr` rescales the LR for other batch sizes
# (enable it with `--auto-scale-lr`).
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW',
        lr=1.5e-3,
        weight_decay=5e-4,
        eps=1e-8,
        betas=(0.9, 0.999)))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=2e-4 / 1.5e-3,
        by_epoch=False,
        begin=0,
        end=20000),
    # 20k iterations = 4 epochs at batch 256 (5005 iterations per epoch)
    dict(
        type='CosineAnnealingLR',
        eta_min=2e-4,
        by_epoch=True,
        begin=4,
        end=300,
        convert_to_iter_based=True)
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=256)

custom_hooks = [dict(type='EMAHook', momentum=5e-4, priority='ABOVE_NORMAL')]
