# The CSWin UperNet recipe on ADE20K (segmentation/configs/cswin/
# upernet_cswin_{tiny,small}.py): schedule_160k_adamw.py (AdamW lr 6e-5,
# betas (0.9, 0.999), weight decay 0.01, 1500-iteration linear warm-up from
# 1e-6, poly (power 1.0) to 0 at 160k iterations, 16 images per batch) with
# upstream's paramwise_cfg: no weight decay on parameters whose name holds
# 'norm' (the backbone's block, merge and output LayerNorms; not the stem's
# LayerNorm `stage1_conv_embed.2` nor the heads' BatchNorms `bn`, as
# upstream); its position-embedding keys match nothing in CSWin.
_base_ = './schedule_160k_adamw.py'

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
