# HAM-ResNet-50 Mask R-CNN 1x, COCO: HAM after conv3 of every bottleneck in
# stages 2-4 (before the residual sum, as in the paper), like mmdet's GCNet
# config. No reference number in ../shared/specs/ham_vit.md.
# ImageNet-pretrained HAM-ResNet-50 weights are not bundled, so by default the
# backbone starts random (`init_cfg=None`) and trains whole: no frozen stage
# and BatchNorm statistics updated (`frozen_stages=-1, norm_eval=False`;
# mmdet's 1, True suit pretrained weights only; with 2 images per GPU,
# `model.backbone.norm_cfg.type=SyncBN` steadies them across GPUs).
# To start from torchvision's ResNet-50 instead (it loads into everything
# but the HAM parameters) with mmdet's frozen stem + stage 1 and frozen BN:
#   --cfg-options model.backbone.init_cfg._delete_=True \
#       model.backbone.init_cfg.type=CheckedPretrained \
#       model.backbone.init_cfg.checkpoint=torchvision://resnet50 \
#       'model.backbone.init_cfg.allowed_missing=[*.ham.*]' \
#       model.backbone.frozen_stages=1 model.backbone.norm_eval=True
# (`_delete_`: init_cfg is None here, and a dict cannot be merged into None.
# CheckedPretrained, mmhybrid.models.utils.init, refuses a file that does not
# fit, where mmengine's Pretrained would leave the backbone random.)
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
# mmhybrid's runtime policy (as configs/_base_/default_runtime_det.py)
runner_type = 'HybridRunner'
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))

model = dict(
    backbone=dict(
        init_cfg=None,
        frozen_stages=-1,
        norm_eval=False,
        plugins=[
            dict(
                cfg=dict(type='HAM', separation_rate=0.6),
                stages=(False, True, True, True),
                position='after_conv3')
        ]))
