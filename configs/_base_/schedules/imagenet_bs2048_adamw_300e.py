# The SHViT ImageNet recipe: AdamW, lr 1e-3 x 2048 / 512, 300 epochs, cosine
# to 1e-5 after a 5-epoch linear warm-up, EMA of the weights; no weight decay
# on norms and biases (timm's default filter). Weight decay is 0.025 (S1);
# S2/S3/S4 use 0.032/0.035/0.03. `auto_scale_lr` rescales the LR for other
# batch sizes (enable it with `--auto-scale-lr`).
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW',
        lr=1e-3 * 2048 / 512,
        weight_decay=0.025,
        eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / (1e-3 * 2048 / 512),  # from 1e-6, as in timm
        by_epoch=True,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=5,
        end=300)
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=2048)

# decay 0.99996 per iteration (the DeiT-family default; the spec gives none)
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
