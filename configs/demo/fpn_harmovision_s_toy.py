# Semantic FPN + HarmoVision-s + mmseg's standard FPN on the synthetic toy
# ADE20K-layout set (tools/misc/make_toy_data.py), trained from scratch on
# CPU. Not a benchmark: it proves the segmentor learns. Everything but the
# backbone and neck comes from the SHViT toy config; the full-size
# counterpart is configs/fpn_harmovision_s_ade20k.py.
_base_ = './fpn_shvit_s1_toy.py'

neck_channels = 64
model = dict(
    data_preprocessor=dict(size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='HarmoVision',
        arch='s',
        out_indices=(1, 2, 3, 4),
        frozen_stages=-1,
        norm_eval=False,  # trained from scratch: BN statistics must move
        with_cp=False,
        init_cfg=None),
    neck=dict(
        _delete_=True,
        type='FPN',
        in_channels=[64, 128, 192, 256],
        out_channels=neck_channels,
        num_outs=4))  # strides 4, 8, 16, 32
