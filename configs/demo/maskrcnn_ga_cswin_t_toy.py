# Mask R-CNN + a reduced CSWin (the GA-CSWin backbone) + mmdet's FPN on the
# synthetic toy COCO set (tools/misc/make_toy_data.py), trained from scratch
# on CPU. Not a benchmark: it proves the detector learns. Everything but the
# backbone and neck comes from maskrcnn_shvit_s1_toy.py (64-channel heads,
# 128 px images, same data and schedule). The full-size counterpart is
# configs/maskrcnn_ga_cswin_t_coco.py; CSWin-T itself (21 blocks at stride
# 16) would be several times slower on CPU, so the toy uses the T layout
# (stripe widths 1, 2, 7, 7, global attention in the last stage, widths
# doubling per stage) at half width, with depths 1, 1, 2, 1 and heads
# 2, 2, 4, 8 (head width 16-32).
_base_ = './maskrcnn_shvit_s1_toy.py'

toy_arch = dict(
    embed_dims=[32, 64, 128, 256],
    depths=[1, 1, 2, 1],
    num_heads=[2, 2, 4, 8],
    split_sizes=[1, 2, 7, 7])

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='CSWin',
        arch=toy_arch,
        stem='7x7',
        drop_path_rate=0.0,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        with_cp=False,
        init_cfg=None),
    neck=dict(
        _delete_=True,
        type='FPN',
        in_channels=toy_arch['embed_dims'],
        out_channels={{_base_.neck_channels}},
        num_outs=5))  # strides 4, 8, 16, 32, 64
