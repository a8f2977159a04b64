# The SHViT ImageNet recipe (ysj9909/SHViT main.py and its README commands):
# AdamW, lr 1e-3 x 2048 / 512 (main.py:75, 312; 256 per GPU x 8 GPUs),
# betas (0.9, 0.999), eps 1e-8; 300 epochs, cosine to 1e-5 after a 5-epoch
# linear warm-up from 1e-6 (main.py:39, 73, 83-89); no weight decay on norms
# and biases (timm's create_optimizer filter). Weight decay is 0.025 (S1);
# S2/S3/S4 use 0.032/0.035/0.03 (README commands). Adaptive gradient
# clipping 0.02 on every parameter, every step (main.py:63-66, engine.py:61).
# An EMA of weights and BN buffers, decay 0.99996 (main.py:47-52, timm
# ModelEma), tracked but not what upstream evaluated (main.py:407) or
# released (main.py:418): the raw model is validated and saved as
# `state_dict`, the EMA is validated too (`ema/` metrics) and kept in
# `ema_state_dict`. timm steps the lr once per epoch (cosine over epochs
# 0-300, one epoch late: main.py:405); here per iteration (cosine over 5-300):
# past the warm-up the two stay within 1.1% of the peak lr.
# `auto_scale_lr` rescales the LR for other batch sizes (`--auto-scale-lr`).
optim_wrapper = dict(
    type='AGCOptimWrapper',  # mmhybrid/engine/optim.py (timm's AGC)
    clip_grad=dict(clip_factor=0.02, eps=1e-3),
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
        start_factor=1e-6 / (1e-3 * 2048 / 512),  # from 1e-6 (--warmup-lr)
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

# timm's ModelEma: ema = decay * ema + (1 - decay) * model on every state
# entry (buffers too), after every step; mmengine's momentum = 1 - decay.
custom_hooks = [
    dict(
        type='EMAPolicyHook',  # mmhybrid/engine/ema.py
        momentum=4e-5,
        update_buffers=True,
        evaluate=('raw', 'ema'),
        state_dict='raw',
        priority='ABOVE_NORMAL')
]
