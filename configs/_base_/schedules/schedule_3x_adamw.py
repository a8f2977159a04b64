# Swin-Transformer-Object-Detection's Mask R-CNN 3x recipe (CSWin's detection
# recipe, unconfirmed: CSWin released no detection code): AdamW lr 1e-4,
# betas (0.9, 0.999), weight decay 0.05, none on norms (Swin's paramwise_cfg;
# its position-embedding keys match nothing in CSWin); 36 epochs, LR x0.1 at
# epochs 27 and 33, 500-iteration linear warm-up from 0.001; 16 images per
# batch (2 per GPU x 8 GPUs, mmdet's COCO dataset default).
_base_ = './schedule_1x_adamw.py'

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1)
]
