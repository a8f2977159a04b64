# HarmoVision-s DeepLabv3, ADE20K val: upstream 39.24 mIoU (CVNets; EMO-5M
# 37.8 under the same protocol), measured on image AND label resized to
# 512x512 (CVNets' validation); `tools/test.py --eval-protocol cvnets` does
# that, the default is mmseg's protocol (prediction at the original label).
# Recipe: Xuwei86/HarmoVision `HarmoVision model weight files/seg/
# HarmoVision-s/config.yaml` on apple/ml-cvnets (card: metafiles/harmovision.yml).
# Output stride 8 as upstream: layer4's downsampler has stride 1, layer5's
# stride 1 and dilation 2; CVNets' ASPP (512 channels, rates 12/24/36 plus
# the 1x1 and image-pool branches, 1x1 projection, Dropout2d 0.1) sits on
# layer5; the auxiliary head (weight 0.4) on layer4, as upstream.
# Upstream started from its HarmoVision-s ImageNet EMA checkpoint, which is not public: `init_cfg=None`.
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    'mmseg::_base_/datasets/ade20k.py',
    '_base_/schedules/schedule_160k_adamw.py',  # hooks; schedule below
    '_base_/default_runtime_seg.py'
]
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)
sync_bn = 'torch'  # sync_batch_norm (config.yaml:103): backbone BN too
# input RGB in [0, 1], no mean/std (CVNets' ToTensor default)
data_preprocessor = dict(
    size=crop_size, mean=[0., 0., 0.], std=[255., 255., 255.])
model = dict(
    pretrained=None,
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='HarmoVision',
        arch='s',
        out_indices=(3, 4),  # layer4 (aux head), layer5 (ASPP)
        output_stride=8,
        frozen_stages=-1,
        norm_eval=False,  # BN trained, as CVNets
        with_cp=False,
        init_cfg=None),
    decode_head=dict(
        type='CVNetsASPPHead',
        in_channels=256,
        in_index=1,
        channels=512,
        dilations=(1, 12, 24, 36),
        dropout_ratio=0.1,
        norm_cfg=norm_cfg,
        num_classes=150),
    # CVNets' aux head: 3x3 conv 192 -> max(192 // 4, 128) + BN + ReLU,
    # Dropout2d 0.1, 1x1 -> 150 (base_seg_head.py:58-85), loss weight 0.4
    auxiliary_head=dict(
        in_channels=192,
        in_index=0,
        channels=128,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        norm_cfg=norm_cfg,
        num_classes=150,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)))

# CVNets' training transforms, in its order (base_segmentation.py:134-159):
# short side 256..768 (long side <= 1024) bicubic, flip, 512 crop (class
# ratio <= 0.75, padded with ignored label), photometric distortion, rotation
# +-10 deg (always; label filled with the ignored index). Not here: CVNets'
# Gaussian blur (p 0.5, radius U(0, 1): `random_gaussian_noise` enables
# RandomGaussianBlur, base_segmentation.py:140-141), as mmseg has no such
# transform; its photometric distortion's brightness is a factor 0.875-1.125
# and it permutes channels (mmseg's: +-16 levels, no permutation).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=[(1024, 256), (1024, 768)],
         keep_ratio=True, interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='PhotoMetricDistortion', brightness_delta=16,
         contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5),
         hue_delta=9),
    dict(type='RandomRotate', prob=1.0, degree=10, pad_val=0,
         seg_pad_val=255),
    dict(type='PackSegInputs')
]
# 8 images per GPU (config.yaml:19; its comment "16 (4 * 4 GPUs)" is
# CVNets' template's); the GPU count is not stated, the upstream README
# says single-GPU training (README.md:13): 8 x 1.
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))

# The CVNets protocol of the 39.24 (`tools/test.py --eval-protocol cvnets`):
# image (bicubic) and label (nearest) resized to 512x512 and the prediction
# scored at that size (config.yaml:33-36, base_segmentation.py:174).
eval_protocols = dict(
    cvnets=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='ResizeImageAndLabel', scale=(512, 512),
             interpolation='bicubic'),
        dict(type='PackSegInputs')
    ]))

# AdamW 9e-4 -> 1e-4 cosine over 120 epochs, no warm-up, wd 1e-4 except on
# 1-D parameters (norms, biases), betas CVNets' default (0.9, 0.98), grad
# norm clipped at 10 (config.yaml:9, :63-75). 120 epochs of 20210 images at
# 8 x 1: 2527 iterations per epoch (scale max_iters for more GPUs). The
# cosine steps per iteration (CVNets: per epoch).
iters_per_epoch = 2527
max_iters = 120 * iters_per_epoch
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=9e-4,
        betas=(0.9, 0.98),
        weight_decay=1e-4),
    clip_grad=dict(_delete_=True, max_norm=10.0, norm_type=2),
    paramwise_cfg=dict(flat_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min=1e-4,
         begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters,
    val_interval=iters_per_epoch)
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=iters_per_epoch,
                    save_best='mIoU'))
# EMA momentum 1.5e-4 over parameters AND buffers (CVNets' EMA averages the
# whole state_dict, averaging_utils.py:47-55); validation and test use the
# EMA weights, as the upstream score is the EMA model's (config.yaml:112-114).
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage',
         momentum=1.5e-4, update_buffers=True, priority='ABOVE_NORMAL')
]
