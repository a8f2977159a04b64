# GA-CSWin-T UperNet 160k, ADE20K val (CSWin paper): 49.3 mIoU ss / 50.7 ms
_base_ = [
    '_base_/models/upernet_ga_cswin.py', 'mmseg::_base_/datasets/ade20k.py',
    '_base_/schedules/schedule_160k_adamw_cswin.py',
    '_base_/default_runtime_seg.py'
]
# ms = the inherited ADE20K tta_pipeline (ratios 0.5-1.75 + flip), as run by
# mmseg's tools/test.py --tta
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)
