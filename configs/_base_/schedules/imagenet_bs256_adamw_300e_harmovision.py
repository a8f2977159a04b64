# The HarmoVision ImageNet recipe (CVNets; upstream `HarmoVision model weight
# files/classification/HarmoVision-n/config.yaml`): AdamW (betas 0.9/0.999,
# eps 1e-8), weight decay 5e-4 on every parameter (no_decay_bn_filter_bias
# false), mixed precision (fp16, dynamic loss scale), no gradient clipping;
# lr: 20k-iteration linear warm-up from 2e-4 to 1.5e-3, then CVNets' epoch
# cosine (is_iteration_based false: one lr per epoch, the cosine counted
# from epoch 0 over 300 epochs, not restarted after the warm-up) to 1.25e-4;
# EMA of weights and BN buffers, momentum 1.5e-4, which is what is
# evaluated, saved and quoted (checkpoint_ema_score_*). Batch 256 (one GPU,
# see the dataset base); `--auto-scale-lr` rescales lr for another batch.
# mmengine's AmpOptimWrapper needs a GPU (it refuses CPUs).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='float16',
    loss_scale='dynamic',
    clip_grad=None,
    optimizer=dict(
        type='AdamW',
        lr=1.5e-3,
        weight_decay=5e-4,
        eps=1e-8,
        betas=(0.9, 0.999)))

# mmengine chains the two: during the warm-up (~5.4 epochs on one GPU) the
# warm-up lr also gets the cosine's epoch factor (>= 0.9993), and after it
# the lr stays within 0.003% of CVNets' cosine of the epoch
# (tests/test_engine/test_harmovision_schedule.py).
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=2e-4 / 1.5e-3,
        by_epoch=False,
        begin=0,
        end=20000),
    dict(
        type='CosineAnnealingLR',
        T_max=300,
        eta_min=1.25e-4,
        by_epoch=True,
        begin=0,
        end=300)
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=256)

custom_hooks = [
    dict(
        type='EMAHook',
        momentum=1.5e-4,
        update_buffers=True,
        priority='ABOVE_NORMAL')
]
