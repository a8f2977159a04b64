"""Whole-model ONNX export through mmdeploy (mmhybrid.deploy): one detector of
each kind (Mask R-CNN with masks, RetinaNet) and one segmentor (Semantic
FPN), trained for a few iterations on the toy sets so that detections exist,
then exported with dynamic shapes and checked:

* standard ONNX ops only (no custom domain), stock onnxruntime runs it;
* parity on a real photograph (matplotlib's grace_hopper.jpg) at two input
  sizes against the PyTorch model's ``predict``: every detection matched,
  boxes, scores, mask IoU, seg-map agreement within the tool's tolerances;
* ``tools/test.py --backend onnxruntime`` on the toy set gives the box/mask
  AP or mIoU of the PyTorch checkpoint within 0.005.

The detectors run with a low score threshold (0.001; the graph keeps its
config's thresholds), so that the photo gives many detections to match."""
import json
import os.path as osp

import pytest

from toy_cli import DET_EPOCHS, ROOT, SEG_ITERS, toy_set
from toy_cli import NO_VAL as _NO_VAL
from toy_cli import cfg_options as _options
from toy_cli import det_data as _det_data
from toy_cli import run_tool as _run
from toy_cli import seg_data as _seg_data
from toy_cli import train as _train

from mmhybrid.deploy.onnx import (check_export, export_model, failures,
                             format_figures, nonstandard_ops)

import mmdeploy  # noqa: F401 (make install installs it)
import onnxruntime  # noqa: F401 (make install installs it)

MASKRCNN = 'configs/demo/maskrcnn_shvit_s1_toy.py'
RETINANET = 'tests/test_deploy/retinanet_shvit_s1_toy.py'
FPN = 'configs/demo/fpn_shvit_s1_toy.py'
SHAPES = [(128, 128), (192, 256)]  # traced size, and a second one


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    return toy_set(str(tmp_path_factory.mktemp('export_toy')))


def _det_train(root, epochs=DET_EPOCHS):
    return {**_det_data(root), **_NO_VAL, 'train_cfg.max_epochs': epochs,
            'train_cfg.val_interval': epochs,
            'param_scheduler.1.T_max': epochs, 'param_scheduler.1.end': epochs,
            'default_hooks.checkpoint.interval': epochs}


def _test_metrics(config, checkpoint, work_dir, options, *flags):
    stdout = _run('tools/test.py', config, checkpoint, '--work-dir',
                  work_dir, *flags, *_options(options))
    with open(stdout.split('metrics written to ')[-1].strip()) as f:
        return json.load(f)


def _export_and_check(config, ckpt, tmp_path, options, data, keys):
    """Export with dynamic shapes, check the ops, parity on the photo at
    two sizes, and toy-set metrics of both backends; returns the
    figures."""
    out = str(tmp_path / 'model.onnx')
    result = export_model(osp.join(ROOT, config), out, checkpoint=ckpt,
                          shape=SHAPES[0], dynamic=True, cfg_options=options)
    assert nonstandard_ops(out) == []
    figures = check_export(result, shapes=SHAPES)
    assert [s[-2:] for s, _ in figures] == SHAPES
    for shape, f in figures:
        print(shape, format_figures(f))
        assert failures(f) == [], (shape, f)
    test_options = {**data, **options}
    onnx = _test_metrics(config, out, str(tmp_path / 'onnx'), test_options,
                         '--backend', 'onnxruntime')
    torch_ = _test_metrics(config, ckpt, str(tmp_path / 'torch'),
                           test_options)
    assert onnx['backend'] == 'onnxruntime' and torch_['backend'] == 'pytorch'
    for key, tol in keys.items():
        print(key, 'onnxruntime', onnx[key], 'pytorch', torch_[key])
        assert abs(onnx[key] - torch_[key]) <= tol, (key, onnx[key],
                                                      torch_[key])
    return figures, onnx, torch_


@pytest.mark.slow
def test_maskrcnn_export_parity_and_ap(toy_root, tmp_path):
    ckpt = _train(MASKRCNN, str(tmp_path / 'train'), {
        **_det_train(toy_root), 'param_scheduler.0.end': DET_EPOCHS // 2})
    options = {'model.test_cfg.rcnn.score_thr': 0.001}
    figures, onnx, _ = _export_and_check(
        MASKRCNN, ckpt, tmp_path, options, _det_data(toy_root),
        {'coco/bbox_mAP': 0.005, 'coco/segm_mAP': 0.005})
    assert all(f['matched'] > 0 and 'mask_iou' in f for _, f in figures)
    assert onnx['coco/bbox_mAP'] > 0.05 and onnx['coco/segm_mAP'] > 0.05


@pytest.mark.slow
def test_retinanet_export_parity_and_ap(toy_root, tmp_path):
    ckpt = _train(RETINANET, str(tmp_path / 'train'), _det_train(toy_root))
    options = {'model.test_cfg.score_thr': 0.001}
    figures, onnx, _ = _export_and_check(
        RETINANET, ckpt, tmp_path, options, _det_data(toy_root),
        {'coco/bbox_mAP': 0.005})
    assert all(f['matched'] > 0 for _, f in figures)
    assert onnx['coco/bbox_mAP'] > 0.01


@pytest.mark.slow
def test_semantic_fpn_export_parity_and_miou(toy_root, tmp_path):
    ckpt = _train(FPN, str(tmp_path / 'train'), {
        **_seg_data(toy_root), **_NO_VAL, 'train_cfg.max_iters': SEG_ITERS,
        'train_cfg.val_interval': SEG_ITERS,
        'param_scheduler.0.end': SEG_ITERS // 3,
        'param_scheduler.1.end': SEG_ITERS,
        'default_hooks.checkpoint.interval': SEG_ITERS})
    # mmseg reports mIoU in percent: 0.005 of a fraction is 0.5 point
    figures, onnx, _ = _export_and_check(FPN, ckpt, tmp_path, {},
                                         _seg_data(toy_root), {'mIoU': 0.5})
    assert all(f['pixels'] > 0 for _, f in figures)
    assert onnx['mIoU'] > 30
