# No SHViT segmentation recipe exists upstream. Semantic FPN settings chosen
# here follow the PVT/PoolFormer Semantic FPN recipe on ADE20K, lengthened to
# 80k iterations: AdamW lr 1e-4, weight decay 1e-4, poly (power 0.9) decay to
# 0; 16 images per batch (2 per GPU x 8 GPUs).
_base_ = 'mmseg::_base_/schedules/schedule_80k.py'

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=1e-4))

param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=80000,
        by_epoch=False)
]

# crash-safe saves (mmhybrid/engine/hooks.py): temporary name, then rename
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
