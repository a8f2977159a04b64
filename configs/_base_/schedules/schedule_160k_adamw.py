# No SHViT segmentation recipe exists upstream. UperNet settings chosen here
# follow mmseg's Swin/ConvNeXt UperNet recipe on ADE20K: AdamW lr 6e-5,
# weight decay 0.01, 1500-iteration linear warm-up, then poly (power 1.0) decay
# to 0 at 160k iterations; 16 images per batch (2 per GPU x 8 GPUs).
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=6e-5,
        betas=(0.9, 0.999),
        weight_decay=0.01))

param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=1500,
        end=160000,
        by_epoch=False)
]

# crash-safe saves (mmhybrid/engine/hooks.py): temporary name, then rename
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
