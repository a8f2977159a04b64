"""A training set whose categories do not include the config's classes
(the 3-class toy COCO set under an 80-class COCO config) is refused before
training with a sentence naming both class lists and what to do; it used to
end in mmengine's ``ValueError: need at least one array to concatenate``."""
import json
import os.path as osp
import subprocess
import sys

import pytest

import mmhybrid.apis.checks as checks
from mmhybrid.apis import (AnnotationError, check_coco_classes, load_config,
                           prepare_training)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
COCO_CFG = 'configs/maskrcnn_shvit_s1_coco.py'


@pytest.fixture(scope='module')
def toy_coco(tmp_path_factory):
    from mmhybrid.testing.toy import make_toy_coco
    root = tmp_path_factory.mktemp('toy') / 'coco'
    make_toy_coco(str(root), num_train=2, num_val=1)
    return root


def _train_ann(root):
    return str(root / 'annotations' / 'instances_train2017.json')


def _coco_classes():
    from mmdet.datasets import CocoDataset
    return tuple(CocoDataset.METAINFO['classes'])


def test_coco_classes_on_toy_set_are_refused(toy_coco):
    ann = _train_ann(toy_coco)
    with pytest.raises(AnnotationError) as e:
        check_coco_classes(ann, _coco_classes(),
                           'train_dataloader.dataset.ann_file')
    text = str(e.value)
    assert ann in text and 'train_dataloader.dataset.ann_file' in text
    # both lists, shortened
    assert "none of the config's 80 classes (person, bicycle" in text
    assert 'and 72 more' in text
    assert '3 categories (ellipse, rectangle, triangle)' in text
    # and what to do
    assert 'configs/demo/*_toy.py' in text
    assert 'metainfo=dict(classes=' in text and 'num_classes' in text
    assert 'need at least one array to concatenate' in text


def test_partial_and_matching_classes(toy_coco):
    ann = _train_ann(toy_coco)
    check_coco_classes(ann, ('ellipse', 'rectangle', 'triangle'))
    check_coco_classes(ann, ('triangle', ))
    check_coco_classes(ann, None)  # no classes known: nothing to compare
    with pytest.raises(AnnotationError,
                       match='no category named square, one of') as e:
        check_coco_classes(ann, ('ellipse', 'square'))
    assert 'shift the labels' in str(e.value)
    with pytest.raises(FileNotFoundError, match='gone.json'):
        check_coco_classes(str(toy_coco / 'gone.json'), ('ellipse', ))


@pytest.mark.parametrize('categories_first', [False, True])
def test_large_file_reads_only_its_categories(toy_coco, tmp_path,
                                              monkeypatch,
                                              categories_first):
    """A large file (COCO train2017 is 448 MB) is not parsed whole: its
    categories are found at either end of it."""
    data = json.loads(open(_train_ann(toy_coco)).read())
    keys = ['categories', 'images', 'annotations'] if categories_first \
        else ['images', 'annotations', 'categories']
    big = tmp_path / 'big.json'
    big.write_text(json.dumps({k: data[k] for k in keys}, indent=1))
    monkeypatch.setattr(checks, 'FULL_READ_BYTES', 0)
    calls = []
    real_load = json.load
    monkeypatch.setattr(checks.json, 'load',
                        lambda *a, **k: calls.append(a) or real_load(*a, **k))
    with pytest.raises(AnnotationError, match='none of the config'):
        check_coco_classes(str(big), _coco_classes())
    check_coco_classes(str(big), ('ellipse', 'triangle'))
    assert calls == []  # never parsed whole
    # categories nowhere near either end (a small window): not checked
    assert checks._tail_categories(str(big), window=8) is None


def test_prepare_training_refuses_toy_set_under_coco_config(toy_coco,
                                                            tmp_path):
    cfg = load_config(COCO_CFG, {
        'train_dataloader.dataset.data_root': f'{toy_coco}/',
        'val_cfg': None, 'val_dataloader': None, 'val_evaluator': None},
        work_dir=str(tmp_path / 'w'))
    with pytest.raises(AnnotationError, match="none of the config's 80"):
        prepare_training(cfg)
    # the toy config on the same set passes the check
    cfg = load_config('configs/demo/maskrcnn_shvit_s1_toy.py', {
        'train_dataloader.dataset.data_root': f'{toy_coco}/',
        'val_dataloader.dataset.data_root': f'{toy_coco}/',
        'val_evaluator.ann_file':
        str(toy_coco / 'annotations' / 'instances_val2017.json')},
        work_dir=str(tmp_path / 'w2'))
    prepare_training(cfg)


def test_train_cli_says_so(toy_coco, tmp_path):
    r = subprocess.run(
        [sys.executable, 'tools/train.py', COCO_CFG, '--work-dir',
         str(tmp_path / 'w'), '--cfg-options',
         f'train_dataloader.dataset.data_root={toy_coco}/', 'val_cfg=None',
         'val_dataloader=None', 'val_evaluator=None'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0
    assert 'Traceback' not in r.stderr
    assert 'need at least one array' in r.stderr  # named, explained
    assert "none of the config's 80 classes" in r.stderr
    assert 'configs/demo/*_toy.py' in r.stderr


def test_data_root_hint_says_the_toy_sets_need_their_configs(tmp_path):
    from mmhybrid.apis import check_data_roots
    cfg = load_config(COCO_CFG, {
        'train_dataloader.dataset.data_root': f'{tmp_path}/nowhere/'})
    with pytest.raises(FileNotFoundError) as e:
        check_data_roots(cfg, 'train_dataloader')
    text = str(e.value)
    assert 'nowhere' in text and 'make_toy_data.py' in text
    assert '3 classes' in text and 'configs/demo/*_toy.py' in text
