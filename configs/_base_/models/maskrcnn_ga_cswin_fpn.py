# Mask R-CNN with a CSWin backbone (the backbone of GA-CSWin; the GA heads are
# classification-only) and mmdet's standard FPN: CSWin already gives strides
# 4, 8, 16 and 32 (64/128/256/512 channels, each through its own LayerNorm
# norm1..norm4), FPN adds stride 64 by max-pooling. Defaults to CSWin-T with
# the COCO drop-path 0.1 of the CSWin recipe; a top-level config sets `arch`
# and `drop_path_rate` (s: 0.3). Both archs have the same widths, so the neck
# stays as is. The backbone has no BatchNorm (`norm_eval` is moot).
#
# ImageNet-1k weights are not bundled, so `init_cfg=None`. Upstream starts
# from the official CSWin ImageNet-1k checkpoint (microsoft/CSWin-Transformer
# release `cswin_tiny_224.pth` / `cswin_small_224.pth`; it loads as is, its
# `norm`/`head` are skipped and norm1..norm4 start fresh); to do the same,
# append
#   --cfg-options model.backbone.init_cfg._delete_=True \
#       model.backbone.init_cfg.type=Pretrained \
#       model.backbone.init_cfg.checkpoint=checkpoints/cswin_tiny_224.pth
# or, in a child config:
#   model = dict(backbone=dict(init_cfg=dict(
#       _delete_=True, type='Pretrained',
#       checkpoint='checkpoints/cswin_tiny_224.pth')))
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='CSWin',
        arch='t',
        stem='7x7',  # the CSWin stem, so the official checkpoints load
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        with_cp=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512]))
