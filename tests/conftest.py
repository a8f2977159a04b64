import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
# tools run as subprocesses import the mmhybrid of this tree, not whatever
# copy is installed
os.environ['PYTHONPATH'] = os.pathsep.join(
    p for p in (ROOT, os.environ.get('PYTHONPATH')) if p)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope='session')
def toy_scenes(tmp_path_factory):
    """Inputs a user brings to the inference tools: a non-square detection
    scene (W 128 x H 96, PNG), a non-square segmentation scene (W 112 x
    H 128, PNG), and ``cls``: a folder of three 64 px ImageNet-style JPEGs
    (one per toy class)."""
    from PIL import Image

    from mmhybrid.testing.toy import make_toy_data
    root = tmp_path_factory.mktemp('toy_scenes')
    toy = str(root / 'toy')
    make_toy_data(toy, coco=dict(num_train=1, num_val=1),
                  ade=dict(num_train=1, num_val=1),
                  imagenet=dict(num_train_per_class=1, num_val_per_class=1))
    out = {}
    for name, sub, box in (
            ('det', 'coco/val2017', (0, 0, 128, 96)),
            ('seg', 'ade/ADEChallengeData2016/images/validation',
             (0, 0, 112, 128))):
        folder = os.path.join(toy, sub)
        out[name] = str(root / f'{name}_scene.png')
        with Image.open(os.path.join(folder,
                                     sorted(os.listdir(folder))[0])) as im:
            im.crop(box).save(out[name])
    cls_dir = root / 'cls'
    cls_dir.mkdir()
    val = os.path.join(toy, 'imagenet', 'val')
    for cls in sorted(os.listdir(val)):
        for f in os.listdir(os.path.join(val, cls)):
            os.link(os.path.join(val, cls, f), cls_dir / f)
    out['cls'] = str(cls_dir)
    return out
