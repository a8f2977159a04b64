"""mmdet, mmseg and mmpretrain inferencers work together in one Python
process, in either order, with mmhybrid configs.

mmengine's default scope is process-global, so each order runs in a fresh
interpreter (a subprocess), like a user's notebook: one imports the three
frameworks first and mmhybrid only through the configs' ``custom_imports``,
the other imports mmhybrid first. Models are randomly initialised
(``weights=None``); images are toy ones.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))

SCRIPT = r'''
import json
import sys
import warnings

warnings.filterwarnings('ignore')
if sys.argv[5] == 'mmhybrid-first':
    import mmhybrid  # noqa: F401  (before any framework's inferencers)
from mmdet.apis import DetInferencer
from mmengine.registry import DefaultScope
from mmpretrain.apis import (FeatureExtractor, ImageClassificationInferencer,
                             get_model)
from mmseg.apis import MMSegInferencer

order = sys.argv[1].split(',')
det_img, seg_img, cls_img = sys.argv[2:5]
DET = 'configs/demo/maskrcnn_shvit_s1_toy.py'
SEG = 'configs/demo/fpn_shvit_s1_toy.py'
CLS = 'configs/imagenet_shvit_s1.py'


def build(name):
    if name == 'det':
        return DetInferencer(model=DET, weights=None, device='cpu',
                             show_progress=False)
    if name == 'seg':
        inferencer = MMSegInferencer(model=SEG, weights=None, device='cpu')
        inferencer.show_progress = False
        return inferencer
    if name == 'cls':
        return ImageClassificationInferencer(model=CLS, pretrained=False,
                                             device='cpu')
    if name == 'feat':
        return FeatureExtractor(model=CLS, pretrained=False, device='cpu')
    return get_model(CLS, pretrained=False, device='cpu')


def run(name, client):
    if name == 'det':
        out = client(det_img, return_datasamples=True)
        pred = out['predictions'][0]
        inst = pred.pred_instances
        return dict(ori_shape=list(pred.ori_shape),
                    boxes=list(inst.bboxes.shape),
                    masks=list(inst.masks.shape),
                    scores_in_01=bool(((inst.scores >= 0) &
                                       (inst.scores <= 1)).all()),
                    classes=len(client.model.dataset_meta['classes']))
    if name == 'seg':
        out = client(seg_img)
        return dict(sem_seg=list(out['predictions'].shape),
                    labels=sorted(int(v) for v in
                                  set(out['predictions'].ravel())))
    if name == 'cls':
        out = client(cls_img)[0]
        return dict(scores=list(out['pred_scores'].shape),
                    score_sum=float(out['pred_scores'].sum()),
                    pred_class=out['pred_class'])
    if name == 'feat':
        feats = client(cls_img)[0]
        return dict(feats=[list(f.shape) for f in feats])
    import torch
    with torch.no_grad():
        logits = client(torch.rand(1, 3, 224, 224))
    return dict(logits=list(logits.shape),
                classes=len(client._dataset_meta['classes']))


def scope():
    current = DefaultScope.get_current_instance()
    return None if current is None else current.scope_name


results, clients, scopes = {}, {}, []
for name in order:
    before = scope()
    clients[name] = build(name)
    scopes.append((before, scope()))
    results[name] = run(name, clients[name])
# every client still predicts the same way after all the others were built
again = {name: run(name, clients[name]) for name in reversed(order)}
with open(sys.argv[6], 'w') as f:
    json.dump(dict(results=results, again=again, scopes=scopes), f)
'''


@pytest.fixture
def toy_images(toy_scenes):
    """The detection and segmentation scenes and one ImageNet-style
    image."""
    cls = toy_scenes['cls']
    return dict(toy_scenes, cls=os.path.join(cls, sorted(os.listdir(cls))[0]))


def _run_in_fresh_process(order, images, first, out):
    proc = subprocess.run(
        [sys.executable, '-c', SCRIPT, ','.join(order), images['det'],
         images['seg'], images['cls'], first, str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    with open(out) as f:
        return json.load(f)


def _check(results):
    det = results['det']
    assert det['ori_shape'] == [96, 128]  # (H, W) of the input
    n = det['boxes'][0]
    assert det['boxes'] == [n, 4] and 1 <= n <= 20  # test_cfg max_per_img
    assert det['masks'] == [n, 96, 128]  # full-image masks per box
    assert det['scores_in_01']
    seg = results['seg']
    assert seg['sem_seg'] == [128, 112]  # a label per input pixel
    assert set(seg['labels']) <= {0, 1, 2, 3}  # the toy config's 4 classes
    cls = results['cls']
    assert cls['scores'] == [1000]
    assert cls['score_sum'] == pytest.approx(1.0, abs=1e-3)
    assert isinstance(cls['pred_class'], str)  # an ImageNet class name
    # SHViT-S1 last stage (out_indices=(2,)) after global average pooling
    assert results['feat']['feats'] == [[320]]
    assert results['model'] == dict(logits=[1, 1000], classes=1000)


# seg-first: the frameworks are imported before mmhybrid (a notebook that
# only names mmhybrid configs); det-first: mmhybrid is imported first. Either
# way nothing of the frameworks is wrapped: the configs name their
# classification transforms with their scope, which resolves from any
# default scope the other inferencers leave behind.
@pytest.mark.parametrize('order, first', [
    (('seg', 'cls', 'feat', 'model', 'det'), 'frameworks-first'),
    (('det', 'model', 'feat', 'cls', 'seg'), 'mmhybrid-first'),
], ids=['seg-first', 'det-first'])
def test_inferencers_of_three_frameworks_in_one_process(
        order, first, toy_images, tmp_path):
    record = _run_in_fresh_process(order, toy_images, first,
                                   tmp_path / 'results.json')
    _check(record['results'])
    # calling each one again after the others were built gives the same
    assert record['again'] == record['results']
    # the stock inferencers set the process-wide default scope and do not
    # restore it (DetInferencer/MMSegInferencer): the later clients built
    # and predicted under another framework's scope, as the record shows
    assert any(before not in (None, after)
               for before, after in record['scopes']), record['scopes']
