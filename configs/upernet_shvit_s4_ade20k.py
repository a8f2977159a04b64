# SHViT-S4 UperNet 160k, ADE20K: no upstream number (no SHViT seg recipe)
_base_ = [
    '_base_/models/upernet_shvit.py', 'mmseg::_base_/datasets/ade20k.py',
    '_base_/schedules/schedule_160k_adamw.py',
    '_base_/default_runtime_seg.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)
