# The CSWin UperNet recipe on ADE20K: schedule_160k_adamw.py (AdamW lr 6e-5,
# betas (0.9, 0.999), weight decay 0.01, 1500-iteration linear warm-up, poly
# (power 1.0) to 0 at 160k iterations, 16 images per batch) plus no weight
# decay on normalisation layers (every LayerNorm of the backbone, stem and
# merges included, and the heads' BatchNorms).
_base_ = './schedule_160k_adamw.py'

optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.0))
