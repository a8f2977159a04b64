# The GA ImageNet recipe: LAMB, lr 2e-3 at batch 1024, weight decay 0.05 (not
# on 1-D parameters: norms, biases, LayerScales, as timm), 300 epochs cosine
# to 1e-6 after a 5-epoch linear warm-up (timm's default; the recipe gives
# none). `auto_scale_lr` rescales the LR for other batch sizes (enable it
# with `--auto-scale-lr`).
optim_wrapper = dict(
    optimizer=dict(type='Lamb', lr=2e-3, weight_decay=0.05),
    paramwise_cfg=dict(flat_decay_mult=0.0))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / 2e-3,
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

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=1024)
