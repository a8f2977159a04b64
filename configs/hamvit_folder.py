# HAM-ViT (~2.0M parameters with 10 classes) on an image folder, with the
# recipe of the HAM-ViT project README (no published accuracy to aim at):
# data/train/<class>/*.{jpg,jpeg,png,bmp} and data/test/<class>/..., 224 px,
# flip, rotation 10, affine shear 10 / scale 0.8-1.2, colour jitter 0.2,
# batch 32, Adam lr 1e-4 with weight decay, ReduceLROnPlateau on test top-1,
# early stopping (patience 25), 50 epochs, best and final checkpoints.
# Set `num_classes` to the number of class folders.
_base_ = ['_base_/default_runtime_cls.py']
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)

num_classes = 10
data_root = 'data/'
img_size = 224
batch_size = 32
max_epochs = 50
extensions = ('.jpg', '.jpeg', '.png', '.bmp')

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='HAMViT', arch='base', img_size=img_size, separation_rate=0.5,
        out_indices=(1, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='StackedLinearClsHead',
        num_classes=num_classes,
        in_channels=192,
        mid_channels=[256, 128],
        dropout_rate=0.3,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],  # ImageNet mean/std, RGB
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# the README's torchvision transforms, run on PIL images
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/Resize', size=(img_size, img_size)),
    dict(type='torchvision/RandomHorizontalFlip'),
    dict(type='torchvision/RandomRotation', degrees=10),
    dict(type='torchvision/RandomAffine', degrees=0, shear=10,
         scale=(0.8, 1.2)),
    dict(type='torchvision/ColorJitter', brightness=0.2, contrast=0.2,
         saturation=0.2),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpretrain.NumpyToPIL', to_rgb=True),
    dict(type='mmpretrain.torchvision/Resize', size=(img_size, img_size)),
    dict(type='mmpretrain.PILToNumpy', to_bgr=True),
    dict(type='mmpretrain.PackInputs'),
]

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        extensions=extensions,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='test',
        extensions=extensions,
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-4))
# torch ReduceLROnPlateau defaults (factor 0.1, patience 10), on test top-1
param_scheduler = dict(
    type='ReduceOnPlateauLR', monitor='accuracy/top1', rule='greater',
    factor=0.1, patience=10, by_epoch=True)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    # best_accuracy_top1_epoch_*.pth and the final epoch_*.pth (kept every
    # epoch so that an early stop also leaves its final checkpoint)
    checkpoint=dict(
        type='SafeCheckpointHook', interval=1, max_keep_ckpts=1,
        save_best='accuracy/top1', rule='greater', save_last=True))
custom_hooks = [
    dict(type='EarlyStoppingHook', monitor='accuracy/top1', rule='greater',
         min_delta=0.01, patience=25)
]
randomness = dict(seed=0)
