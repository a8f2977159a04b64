# CSWin-T Semantic FPN 80k, ADE20K val: the CSWin paper's 48.2 mIoU for the
# plain CSWin-T backbone (the backbone of GA-CSWin; no GA head).
# Recipe differs: CSWin released no Semantic FPN config; this follows PVT's,
# which the paper names (AdamW 1e-4, wd 1e-4, 80k iterations at batch 16).
_base_ = [
    '_base_/models/fpn_ga_cswin.py', 'mmseg::_base_/datasets/ade20k.py',
    '_base_/schedules/schedule_80k_adamw.py',
    '_base_/default_runtime_seg.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor, decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)
