"""The library under tools/inference.py and tools/train.py: inputs checked
before a model is built, one PNG name per image, the training flags applied
to a config."""
import os.path as osp

import pytest

from mmhybrid.apis import (check_predict_inputs, describe_prediction,
                           load_config, output_names, prepare_training)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG = osp.join(ROOT, 'configs/demo/fpn_shvit_s1_toy.py')


def test_output_names_keep_repeated_stems_apart():
    assert output_names(['a/x.jpg', 'b/y.png', 'c/y.jpg']) == [
        'x.png', 'y.png.png', 'y.jpg.png']


def test_inputs_are_named_before_the_model_is_built(toy_scenes, tmp_path):
    image = toy_scenes['det']
    assert check_predict_inputs(image, SEG) == [image]
    with pytest.raises(FileNotFoundError, match='Config file not found'):
        check_predict_inputs(image, str(tmp_path / 'no.py'))
    with pytest.raises(FileNotFoundError, match='Checkpoint not found'):
        check_predict_inputs(image, SEG, str(tmp_path / 'no.pth'))


def test_describe_prediction():
    det = dict(top=[], num_instances=7)
    assert describe_prediction(det, 'detection', 5, 0.3) == [
        '  no box scored >= 0.3 (7 below)']
    seg = dict(top=[('circle', 0.25, 'of the pixels'),
                    ('square', 0.5, 'of the pixels')])
    assert describe_prediction(seg, 'segmentation', 1, 0.3) == [
        '  circle: 25.0% of the pixels']


def test_prepare_training_applies_the_flags(tmp_path):
    cfg = load_config(SEG, work_dir=str(tmp_path / 'w'))
    for loader in ('train_dataloader', 'val_dataloader'):
        cfg[loader].dataset.data_root = str(tmp_path)
    trusted = prepare_training(cfg, amp=True, resume='auto')
    assert 'Amp' in cfg.optim_wrapper.type
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.resume is True and cfg.load_from is None
    assert trusted == [None, None]  # nothing to resume from yet
    with pytest.raises(FileNotFoundError, match='--resume checkpoint'):
        prepare_training(cfg, resume=str(tmp_path / 'none.pth'))
