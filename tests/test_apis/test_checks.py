"""mmhybrid.apis.checks: an evaluation without a usable number, and a COCO
annotation file that cannot give a meaningful one, are refused with a
sentence naming what is wrong (they used to print a number, or nothing,
and exit 0)."""
import json
import math
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from mmhybrid.apis import (AnnotationError, MetricError,
                           check_coco_annotations, check_coco_file,
                           check_metrics, load_config)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DET = 'configs/demo/maskrcnn_shvit_s1_toy.py'


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


# ------------------------------------------------------------ check_metrics
def test_good_metrics_pass():
    det = {'coco/bbox_mAP': 0.0, 'coco/bbox_mAP_50': 0.1,
           'coco/segm_mAP': 0.2}
    assert check_metrics(det, 'detection') == {'coco/bbox_mAP': 0.0,
                                               'coco/segm_mAP': 0.2}
    assert check_metrics({'aAcc': 80.0, 'mIoU': 16.5, 'mAcc': 25.0},
                         'segmentation') == {'mIoU': 16.5}
    assert check_metrics({'accuracy/top1': 33.3, 'accuracy/top5': 100.0},
                         'classification') == {'accuracy/top1': 33.3}
    # another evaluator: all its numbers are the headline
    assert check_metrics({'my/score': 0.5}, 'detection') == {'my/score': 0.5}


@pytest.mark.parametrize('metrics', [{}, None, {'note': 'text only'}])
def test_no_metric_is_refused(metrics):
    with pytest.raises(MetricError, match='returned no metric') as e:
        check_metrics(metrics, 'detection', kept=('work/20240101',))
    assert 'bbox_mAP' in str(e.value)
    assert 'work/20240101' in str(e.value)  # what was written is named


@pytest.mark.parametrize('task,metrics,bad', [
    ('segmentation', {'aAcc': 50.0, 'mIoU': math.nan}, 'mIoU=nan'),
    ('detection', {'coco/bbox_mAP': math.inf, 'coco/segm_mAP': 0.1},
     'coco/bbox_mAP=inf'),
    ('classification', {'accuracy/top1': math.nan}, 'accuracy/top1=nan'),
])
def test_non_finite_metric_is_refused(task, metrics, bad):
    with pytest.raises(MetricError, match='non-finite') as e:
        check_metrics(metrics, task)
    assert bad in str(e.value)


def test_coco_minus_one_means_no_ground_truth():
    with pytest.raises(MetricError, match='no ground truth') as e:
        check_metrics({'coco/bbox_mAP': -1.0, 'coco/segm_mAP': -1.0},
                      'detection')
    assert 'coco/bbox_mAP' in str(e.value)


def test_tools_test_exits_non_zero_without_a_metric(tmp_path):
    """A detector that predicts nothing (score threshold above 1): mmdet's
    COCO metric logs an error and returns no metric; tools/test.py used to
    exit 0. It now exits 1 with one sentence, keeping the log and the
    predictions it wrote."""
    from mmhybrid.apis import build_model
    from mmhybrid.testing.toy import make_toy_coco
    root = tmp_path / 'coco'
    make_toy_coco(str(root), num_train=1, num_val=2)
    ckpt = tmp_path / 'det.pth'
    torch.save({'state_dict': build_model(DET).state_dict()}, ckpt)
    out = tmp_path / 'preds.pkl'
    r = _run('tools/test.py', DET, str(ckpt), '--work-dir',
             str(tmp_path / 'work'), '--out', str(out), '--cfg-options',
             f'test_dataloader.dataset.data_root={root}/',
             f'test_evaluator.ann_file={root}/annotations/'
             'instances_val2017.json',
             'model.test_cfg.rcnn.score_thr=1.1')
    assert r.returncode == 1, r.stderr[-3000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('tools/test.py: error: The evaluation returned '
                           'no metric'), last
    assert str(out) in last and out.is_file()  # predictions kept
    logs = list((tmp_path / 'work').glob('*/test_metrics.json'))
    assert len(logs) == 1 and json.loads(logs[0].read_text())[
        'inference_form']


# ------------------------------------------------------ COCO annotations
def _toy(tmp_path, edit):
    from mmhybrid.testing.toy import make_toy_coco
    root = tmp_path / 'coco'
    make_toy_coco(str(root), num_train=1, num_val=2)
    ann = root / 'annotations' / 'instances_val2017.json'
    data = json.loads(ann.read_text())
    edit(data)
    ann.write_text(json.dumps(data))
    return root, ann


def _stray_category(data):
    data['annotations'][0]['category_id'] = 7


def test_unknown_category_id_is_refused(tmp_path):
    _, ann = _toy(tmp_path, _stray_category)
    with pytest.raises(AnnotationError) as e:
        check_coco_file(str(ann), key='test_evaluator.ann_file')
    text = str(e.value)
    assert str(ann) in text and 'test_evaluator.ann_file' in text
    assert 'category ids that its "categories" list does not have: 7' in text


def test_classes_missing_from_categories_are_refused(tmp_path):
    def rename(data):
        data['categories'][1]['name'] = 'square'

    _, ann = _toy(tmp_path, rename)
    with pytest.raises(AnnotationError, match="named rectangle") as e:
        check_coco_file(str(ann), ('ellipse', 'rectangle', 'triangle'))
    assert 'square' in str(e.value)
    # the classes that are there pass
    check_coco_file(str(ann), ('ellipse', 'triangle'))


def test_file_without_images_is_refused(tmp_path):
    def empty(data):
        data['images'] = []
        data['annotations'] = []

    _, ann = _toy(tmp_path, empty)
    with pytest.raises(AnnotationError, match='has no images') as e:
        check_coco_file(str(ann))
    assert str(ann) in str(e.value)


def test_config_check_reads_dataset_and_evaluator_files(tmp_path):
    root, ann = _toy(tmp_path, lambda data: None)
    cfg = load_config(DET, {
        'test_dataloader.dataset.data_root': f'{root}/',
        'test_evaluator.ann_file': str(ann)})
    check_coco_annotations(cfg, 'test_dataloader')  # a good file passes
    cfg = load_config(DET, {
        'test_dataloader.dataset.data_root': f'{root}/',
        'test_evaluator.ann_file': str(tmp_path / 'gone.json')})
    with pytest.raises(FileNotFoundError, match='test_evaluator.ann_file'):
        check_coco_annotations(cfg, 'test_dataloader')
    # the config's classes come from the dataset type when not given
    cfg = load_config(DET, {
        'test_dataloader.dataset.data_root': f'{root}/',
        'test_dataloader.dataset.metainfo': None,
        'test_evaluator.ann_file': str(ann)})
    with pytest.raises(AnnotationError,
                       match=r"none of the config's 80 classes \(person"):
        check_coco_annotations(cfg, 'test_dataloader')


def test_tools_refuse_a_stray_category_before_running(tmp_path):
    """Annotations with a category id absent from ``categories`` gave
    bbox_mAP -1.0 and exit 0; both tools now refuse at once."""
    root, ann = _toy(tmp_path, _stray_category)
    ckpt = tmp_path / 'any.pth'
    ckpt.write_bytes(b'')
    data = [f'test_dataloader.dataset.data_root={root}/',
            f'test_evaluator.ann_file={ann}',
            f'val_dataloader.dataset.data_root={root}/',
            f'val_evaluator.ann_file={ann}']
    r = _run('tools/test.py', DET, str(ckpt), '--work-dir',
             str(tmp_path / 'w1'), '--cfg-options', *data)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('tools/test.py: error: ') and str(ann) in last
    assert 'does not have: 7' in last
    r = _run('tools/train.py', DET, '--work-dir', str(tmp_path / 'w2'),
             '--cfg-options', f'train_dataloader.dataset.data_root={root}/',
             *data)
    assert r.returncode == 1
    assert 'does not have: 7' in r.stderr and str(ann) in r.stderr
    assert not (tmp_path / 'w1').exists() and not (tmp_path / 'w2').exists()


# ----------------------------------------------------- non-finite outputs
def test_non_finite_outputs_are_counted_and_refused():
    from mmhybrid.apis.checks import NonFiniteOutputs
    metric = NonFiniteOutputs()
    nan_logits = torch.zeros(4, 8, 8)
    nan_logits[0, 0, 0] = math.nan
    metric.process({}, [
        {'seg_logits': {'data': torch.zeros(4, 8, 8)},
         'gt_sem_seg': {'data': torch.full((1, 8, 8), math.nan)}},
        {'seg_logits': {'data': nan_logits}},
        {'pred_instances': {'scores': torch.tensor([0.5, math.inf]),
                            'labels': torch.tensor([1, 2])}},
    ])
    metrics = metric.evaluate(3)
    assert metrics == {'outputs/nonfinite': 2, 'outputs/samples': 3}
    with pytest.raises(MetricError, match='NaN or Inf for 2 of 3 images'):
        check_metrics({**metrics, 'mIoU': 16.48}, 'segmentation')
    check_metrics({'outputs/nonfinite': 0, 'outputs/samples': 3,
                   'mIoU': 16.48}, 'segmentation')
    # the count alone is no headline metric
    with pytest.raises(MetricError, match='no metric'):
        check_metrics({'outputs/nonfinite': 0, 'outputs/samples': 3},
                      'detection')


def test_tools_test_refuses_a_nan_segmentation_checkpoint(tmp_path):
    """A Semantic FPN checkpoint filled with NaN used to report a plausible
    mIoU (16.48 on the toy set: NaN logits argmax to class 0, background,
    everywhere) and exit 0."""
    from mmhybrid.apis import build_model
    from mmhybrid.testing.toy import make_toy_ade
    make_toy_ade(str(tmp_path / 'ade'), num_train=1, num_val=2)
    root = tmp_path / 'ade' / 'ADEChallengeData2016'
    sd = build_model('configs/demo/fpn_shvit_s1_toy.py').state_dict()
    sd = {k: v.fill_(math.nan) if v.is_floating_point() else v
          for k, v in sd.items()}
    ckpt = tmp_path / 'nan.pth'
    torch.save({'state_dict': sd}, ckpt)
    r = _run('tools/test.py', 'configs/demo/fpn_shvit_s1_toy.py', str(ckpt),
             '--work-dir', str(tmp_path / 'work'), '--cfg-options',
             f'test_dataloader.dataset.data_root={root}/')
    assert r.returncode == 1, r.stderr[-3000:]
    # refused where the NaN is first seen: the Runner of mmhybrid's configs
    # refuses the checkpoint before testing (NonFiniteOutputs would catch
    # outputs of finite weights that overflow)
    error = r.stderr[r.stderr.index('tools/test.py: error: '):]
    assert 'NaN or Inf weights' in error, r.stderr[-3000:]
    assert not re.search(r'^mIoU: ', r.stdout, re.M)  # no summary printed
