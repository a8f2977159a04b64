# HarmoVision-s SSDLite-320, COCO val2017: upstream 28.30 mAP (CVNets
# SSDLite; MobileViT-S 27.9, EMO-5M 27.9 under the same protocol).
# mmdet's SSDLite (ssdlite_mobilenetv2) with the backbone swapped: layer4 and
# layer5 (strides 16 and 32, 20x20 and 10x10 at 320 px) feed the SSD neck,
# which adds four depthwise-separable stride-2 levels; depthwise SSD head,
# 320x320 inputs. Training schedule, augmentation and anchors are mmdet's
# MobileNetV2 SSDLite recipe (upstream trained with CVNets' own SSD recipe
# from ImageNet weights, which are not published: `init_cfg=None`).
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'

custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
# mmhybrid's runtime policy (as configs/_base_/default_runtime_det.py)
runner_type = 'HybridRunner'
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))

channels = (192, 256, 512, 256, 256, 128)
model = dict(
    backbone=dict(
        _delete_=True,
        type='HarmoVision',
        arch='s',
        out_indices=(3, 4),
        frozen_stages=-1,
        norm_eval=False,  # 24 images per GPU: BN statistics can move
        with_cp=False,
        init_cfg=None),
    neck=dict(in_channels=channels[:2], out_channels=channels),
    bbox_head=dict(in_channels=channels))
