# RetinaNet with a CSWin backbone (the backbone of GA-CSWin) and mmdet's
# standard FPN. As in mmdet's Swin RetinaNet, only the stride 8/16/32 stages
# are taken (out_indices (1, 2, 3), so no unused stride-4 output norm); FPN
# starts at its first input and adds strides 64 and 128 with 3x3 stride-2
# convs on the last backbone map ('on_input'). Defaults to CSWin-T with the
# COCO drop-path 0.1 of the CSWin recipe; a top-level config sets `arch` and
# `drop_path_rate` (s: 0.3). The backbone has no BatchNorm.
#
# ImageNet-1k weights are not bundled, so `init_cfg=None`. To start from the
# official CSWin ImageNet-1k checkpoint (microsoft/CSWin-Transformer release
# `cswin_tiny_224.pth` / `cswin_small_224.pth`; its `norm`/`head` are skipped
# and norm2..norm4 start fresh), append
#   --cfg-options model.backbone.init_cfg._delete_=True \
#       model.backbone.init_cfg.type=Pretrained \
#       model.backbone.init_cfg.checkpoint=checkpoints/cswin_tiny_224.pth
_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'

custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='CSWin',
        arch='t',
        stem='7x7',
        drop_path_rate=0.1,
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        with_cp=False,
        init_cfg=None),
    neck=dict(in_channels=[128, 256, 512], start_level=0, num_outs=5))
