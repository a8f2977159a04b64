# UperNet with a CSWin backbone (the backbone of GA-CSWin), as in the CSWin
# segmentation recipe: the four stride 4/8/16/32 maps (64/128/256/512
# channels, each through its own LayerNorm norm1..norm4) go straight into
# UPerHead (512 channels, pool scales (1, 2, 3, 6)); the auxiliary FCN head
# reads stage 3 (256 channels, stride 16) with loss weight 0.4. Defaults to
# CSWin-T with the ADE20K drop-path 0.3; a top-level config sets `arch` and
# `drop_path_rate` (s: 0.4). The backbone takes any input size, so test
# images need no padding.
#
# ImageNet-1k weights are not bundled, so `init_cfg=None`. Upstream starts
# from the official CSWin ImageNet-1k checkpoint (microsoft/CSWin-Transformer
# release `cswin_tiny_224.pth` / `cswin_small_224.pth`; its `norm`/`head` are
# skipped and norm1..norm4 start fresh); to do the same, append
#   --cfg-options model.backbone.init_cfg._delete_=True \
#       model.backbone.init_cfg.type=Pretrained \
#       model.backbone.init_cfg.checkpoint=checkpoints/cswin_tiny_224.pth
_base_ = 'mmseg::_base_/models/upernet_r50.py'

custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='CSWin',
        arch='t',
        stem='7x7',
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        with_cp=False,
        init_cfg=None),
    decode_head=dict(
        in_channels=[64, 128, 256, 512],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=512),
    auxiliary_head=dict(
        in_channels=256,
        in_index=2,
        loss_decode=dict(loss_weight=0.4)))
