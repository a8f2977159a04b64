"""The synthetic toy sets are deterministic, in the real formats, and the demo
that trains on them runs end to end."""
import filecmp
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mmhybrid.analysis.demo import VIEW_SIZE
from mmhybrid.testing.toy import (TOY_CLASSES, TOY_SEG_CLASSES,
                                   TOY_SEG_PALETTE, make_toy_ade,
                                   make_toy_coco, make_toy_data,
                                   make_toy_imagenet)
from mmhybrid.visualization.predictions import view_scale

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
SMALL = dict(
    coco=dict(num_train=6, num_val=3),
    ade=dict(num_train=6, num_val=3),
    imagenet=dict(num_train_per_class=3, num_val_per_class=1))


def _files(root):
    out = []
    for dirpath, _, names in os.walk(root):
        out += [osp.relpath(osp.join(dirpath, n), root) for n in names]
    return sorted(out)


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy'))
    make_toy_data(root, **SMALL)
    return root


def test_deterministic_bytes(toy, tmp_path):
    other = str(tmp_path / 'again')
    make_toy_data(other, **SMALL)
    files = _files(toy)
    assert files == _files(other)
    assert len(files) > 30
    match, mismatch, errors = filecmp.cmpfiles(toy, other, files,
                                               shallow=False)
    assert not mismatch and not errors


def test_seed_changes_data(toy, tmp_path):
    make_toy_coco(str(tmp_path), seed=1, **SMALL['coco'])
    assert not filecmp.cmp(
        osp.join(toy, 'coco', 'train2017', '000001.jpg'),
        str(tmp_path / 'train2017' / '000001.jpg'), shallow=False)


def test_idempotent_and_force(tmp_path):
    root = str(tmp_path)
    assert make_toy_ade(root, **SMALL['ade'])['generated']
    img = osp.join(root, 'ADEChallengeData2016', 'images', 'training',
                   'ADE_train_00000001.jpg')
    mtime = os.stat(img).st_mtime_ns
    assert not make_toy_ade(root, **SMALL['ade'])['generated']
    assert os.stat(img).st_mtime_ns == mtime
    # other parameters: regenerated, and no stale files left behind
    info = make_toy_ade(root, num_train=2, num_val=1)
    assert info['generated']
    assert len(os.listdir(osp.join(info['data_root'], info['train_img']))) \
        == 2
    assert make_toy_ade(root, num_train=2, num_val=1, force=True)['generated']


def test_coco_format_and_masks(toy):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    for split, num in (('train', 6), ('val', 3)):
        coco = COCO(osp.join(toy, 'coco', 'annotations',
                             f'instances_{split}2017.json'))
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(
            TOY_CLASSES)
        assert len(coco.getImgIds()) == num
        assert len(coco.getAnnIds()) >= num  # every image has an object
        for img_info in coco.loadImgs(coco.getImgIds()):
            path = osp.join(toy, 'coco', f'{split}2017',
                            img_info['file_name'])
            with Image.open(path) as im:
                assert im.size == (img_info['width'], img_info['height'])
                assert im.mode == 'RGB'
        for ann in coco.loadAnns(coco.getAnnIds()):
            assert ann['iscrowd'] == 0
            assert ann['category_id'] in coco.getCatIds()
            img = coco.loadImgs(ann['image_id'])[0]
            m = coco.annToMask(ann)
            assert m.shape == (img['height'], img['width'])
            ys, xs = np.nonzero(m)
            x, y, w, h = ann['bbox']
            # the rasterised polygon fills its box (up to pixel rounding)
            assert abs(xs.min() - x) <= 1.5 and abs(ys.min() - y) <= 1.5
            assert abs(xs.max() + 1 - (x + w)) <= 1.5
            assert abs(ys.max() + 1 - (y + h)) <= 1.5
            assert 0 <= x and 0 <= y and x + w <= img['width'] \
                and y + h <= img['height']
            rle = mask_utils.frPyObjects(ann['segmentation'], img['height'],
                                         img['width'])
            area = float(mask_utils.area(mask_utils.merge(rle)))
            assert abs(area - ann['area']) / ann['area'] < 0.15


def test_coco_loads_in_mmdet(toy):
    from mmdet.datasets import CocoDataset
    ds = CocoDataset(
        data_root=osp.join(toy, 'coco'),
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        metainfo=dict(classes=TOY_CLASSES), pipeline=[])
    assert len(ds) == 6
    inst = ds[0]['instances'][0]
    assert 0 <= inst['bbox_label'] < len(TOY_CLASSES)
    assert len(inst['mask'][0]) >= 6


def test_ade_labels(toy):
    root = osp.join(toy, 'ade', 'ADEChallengeData2016')
    seen = set()
    for split, num in (('training', 6), ('validation', 3)):
        imgs = sorted(os.listdir(osp.join(root, 'images', split)))
        anns = sorted(os.listdir(osp.join(root, 'annotations', split)))
        assert len(imgs) == len(anns) == num
        assert [osp.splitext(f)[0] for f in imgs] == \
            [osp.splitext(f)[0] for f in anns]
        for img_name, ann_name in zip(imgs, anns):
            with Image.open(osp.join(root, 'annotations', split,
                                     ann_name)) as lab, \
                    Image.open(osp.join(root, 'images', split,
                                        img_name)) as im:
                assert lab.mode == 'L' and lab.size == im.size
                values = np.unique(np.asarray(lab))
            assert values.min() >= 0 and values.max() < len(TOY_SEG_CLASSES)
            seen.update(values.tolist())
    assert 0 in seen and len(seen) >= 3
    assert len(TOY_SEG_PALETTE) == len(TOY_SEG_CLASSES)


def test_imagenet_folders(toy):
    root = osp.join(toy, 'imagenet')
    for split, per_class in (('train', 3), ('val', 1)):
        assert sorted(os.listdir(osp.join(root, split))) == sorted(
            TOY_CLASSES)
        for name in TOY_CLASSES:
            files = os.listdir(osp.join(root, split, name))
            assert len(files) == per_class
            assert all(f.endswith('.jpg') for f in files)
        with open(osp.join(root, 'meta', f'{split}.txt')) as f:
            lines = f.read().splitlines()
        assert len(lines) == per_class * len(TOY_CLASSES)
        for line in lines:
            rel, label = line.split()
            assert osp.isfile(osp.join(root, split, rel))
            assert TOY_CLASSES[int(label)] == rel.split('/')[0]


def test_imagenet_loads_in_mmpretrain(toy):
    from mmpretrain.datasets import CustomDataset
    ds = CustomDataset(data_root=osp.join(toy, 'imagenet'),
                       data_prefix='train', pipeline=[])
    assert ds.CLASSES == TOY_CLASSES
    assert len(ds) == 9


def test_make_toy_data_rejects_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match='unknown toy dataset'):
        make_toy_data(str(tmp_path), kinds=['voc'])


def test_demo_configs_match_generator():
    from mmengine.config import Config
    det = Config.fromfile(
        osp.join(REPO, 'configs', 'demo', 'maskrcnn_shvit_s1_toy.py'))
    seg = Config.fromfile(
        osp.join(REPO, 'configs', 'demo', 'fpn_shvit_s1_toy.py'))
    assert tuple(det.train_dataloader.dataset.metainfo.classes) == \
        TOY_CLASSES
    assert det.model.roi_head.bbox_head.num_classes == len(TOY_CLASSES)
    assert tuple(seg.train_dataloader.dataset.metainfo.classes) == \
        TOY_SEG_CLASSES
    assert [tuple(p) for p in seg.train_dataloader.dataset.metainfo.palette
            ] == list(TOY_SEG_PALETTE)
    assert seg.model.decode_head.num_classes == len(TOY_SEG_CLASSES)
    for cfg in (det, seg):
        assert cfg.custom_imports.imports == ['mmhybrid.models']
        assert cfg.model.backbone.type == 'SHViT'


def test_make_toy_data_cli(tmp_path):
    out = str(tmp_path / 'toy')
    cmd = [sys.executable, osp.join(REPO, 'tools', 'misc',
                                    'make_toy_data.py'),
           '--out', out, '--num-train', '2', '--num-val', '1', '--only',
           'coco', 'ade']
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert 'generated' in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert 'up to date' in second.stdout
    assert osp.isfile(osp.join(out, 'coco', 'annotations',
                               'instances_train2017.json'))
    assert not osp.exists(osp.join(out, 'imagenet'))


@pytest.mark.slow
def test_run_demo_quick(tmp_path):
    out = str(tmp_path / 'demo')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'run_demo.py'), '--quick',
         '--out-dir', out],
        cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = proc.stdout.split('mmhybrid demo summary')[-1]
    values = {}
    for key in ('bbox_mAP', 'segm_mAP', 'mIoU'):
        m = re.search(rf'^{key}: (\S+)$', summary, re.MULTILINE)
        assert m, f'no {key} line in the summary:\n{summary}'
        values[key] = float(m.group(1))
        assert np.isfinite(values[key]) and values[key] >= 0
    assert re.search(r'^checkpoints: ', summary, re.MULTILINE)
    assert re.search(r'^logs: ', summary, re.MULTILINE)
    assert re.search(r'^loss curves: ', summary, re.MULTILINE)
    m = re.search(r'^prediction pictures: (.+)$', summary, re.MULTILINE)
    assert m, f'no prediction pictures line in the summary:\n{summary}'
    named = m.group(1).split(', ')
    assert re.search(r'^total elapsed: ', summary, re.MULTILINE)

    with open(osp.join(out, 'summary.json')) as f:
        record = json.load(f)
    assert record['metrics'] == pytest.approx(values, abs=1e-4)
    for job in record['jobs']:
        assert osp.isfile(job['checkpoint'])
        assert osp.isfile(job['train_log'])
        assert osp.isfile(job['test_log'])
        with Image.open(job['loss_curve']) as im:
            assert im.format == 'PNG'
        # tools/inference.py drew the trained model on 3 val images, each
        # PNG its image enlarged by a whole factor to the demo's view size,
        # named in both summaries
        assert len(job['predictions']) == 3
        for png in job['predictions']:
            assert osp.dirname(png) == osp.join(job['work_dir'], 'predictions')
            src = osp.join(osp.dirname(png), 'images',
                           osp.basename(png)[:-len('.png')] + '.jpg')
            with Image.open(png) as im, Image.open(src) as img:
                s = view_scale(img.height, img.width, VIEW_SIZE)
                assert s > 1 and max(img.size) * s >= VIEW_SIZE
                assert im.format == 'PNG'
                assert im.size == (img.width * s, img.height * s)
    assert sorted(named) == sorted(
        png for job in record['jobs'] for png in job['predictions'])
    with open(osp.join(out, 'summary.txt')) as f:
        summary_txt = f.read()
    assert all(png in summary_txt for png in named)
    # the figures were parsed from what the test loop wrote
    jobs = {job['name']: job for job in record['jobs']}
    det, seg = jobs['maskrcnn_shvit_s1_toy'], jobs['fpn_shvit_s1_toy']
    with open(det['metrics_file']) as f:
        det_raw = json.loads(f.read().strip().splitlines()[-1])
    assert det_raw['coco/bbox_mAP'] == pytest.approx(values['bbox_mAP'],
                                                     abs=1e-4)
    assert det_raw['coco/segm_mAP'] == pytest.approx(values['segm_mAP'],
                                                     abs=1e-4)
    with open(seg['metrics_file']) as f:
        seg_raw = json.loads(f.read().strip().splitlines()[-1])
    assert seg_raw['mIoU'] == pytest.approx(values['mIoU'], abs=1e-4)
