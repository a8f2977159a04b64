# HAM-ViT on the synthetic toy image folder (3 shape classes, 40 train and 12
# test images per class, 112 px), trained from scratch on CPU in minutes.
# Not a benchmark: it proves the classifier learns. Generate the data first:
#   python tools/misc/make_toy_data.py --out data/toy --only hamvit
# The full recipe is configs/hamvit_folder.py; shrunk here: 112 px, batch 16,
# lr 1e-3, 15 epochs, plateau patience 3, early-stop patience 6.
_base_ = ['../hamvit_folder.py']

num_classes = 3
data_root = 'data/toy/hamvit/'
img_size = 112
batch_size = 16
max_epochs = 15

model = dict(
    backbone=dict(img_size=img_size), head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)

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
    num_workers=1,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=1,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = dict(patience=3)
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=4))
custom_hooks = [
    dict(type='EarlyStoppingHook', monitor='accuracy/top1', rule='greater',
         min_delta=0.01, patience=6)
]
log_processor = dict(window_size=4)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
