# ToyHybrid-tiny classifier on 3 classes (the example family of
# docs/adding_a_family.md); the model file comes in through custom_imports.
custom_imports = dict(imports=['mmhybrid', 'tests.example_family.toy_hybrid'],
                      allow_failed_imports=False)
default_scope = 'mmpretrain'
data_preprocessor = dict(
    type='ClsDataPreprocessor', num_classes=3,
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ToyHybrid', arch='tiny', out_indices=(1, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=32))
