# HarmoVision-s Semantic FPN 80k, ADE20K: no upstream number (upstream
# reports DeepLabv3 only: configs/deeplabv3_harmovision_s_ade20k.py)
_base_ = [
    '_base_/models/fpn_harmovision.py', 'mmseg::_base_/datasets/ade20k.py',
    '_base_/schedules/schedule_80k_adamw.py',
    '_base_/default_runtime_seg.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor, decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)
