# The official SHViT detection recipe (1x): AdamW lr 1e-4, betas (0.9, 0.999),
# weight decay 0.05; 12 epochs, LR x0.1 at epochs 8 and 11, 500-iteration
# linear warm-up from 0.001 (the last three come from mmdet's schedule_1x);
# 16 images per batch (2 per GPU x 8 GPUs, mmdet's COCO dataset default).
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05))
