# CSWin-T Mask R-CNN 1x, COCO val2017: the CSWin paper's 46.7 box / 42.2 mask
# AP for the plain CSWin-T backbone (the backbone of GA-CSWin; no GA head).
# CSWin released no detection code and says it follows Swin: optimizer and
# schedule as Swin-Transformer-Object-Detection's Mask R-CNN 1x (AdamW 1e-4,
# wd 0.05 with none on norms, 12 epochs, x0.1 at 8 and 11, 500-iteration
# warm-up, 2 images per GPU x 8), single-scale 1333x800 training as the CSWin
# paper states (Swin's own 1x config trains multi-scale). Upstream starts
# from the ImageNet checkpoint (see the base model for the override) and
# trains in mixed precision (`--amp` does the same).
_base_ = [
    '_base_/models/maskrcnn_ga_cswin_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '_base_/schedules/schedule_1x_adamw.py',
    '_base_/default_runtime_det.py'
]

# Swin's paramwise_cfg; CSWin has neither position embedding nor bias table
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
