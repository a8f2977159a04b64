"""What the end-to-end tests that train toy models through the command line
share: a small toy COCO + ADE set whose training images are also the test
images (a model trained for a few iterations then scores clearly above
zero), ``--cfg-options`` pointing a toy config at it, and running
``tools/train.py`` / ``tools/test.py`` as a user does (subprocess, no
dataloader workers: deterministic, and less start-up time on 2 cores)."""
import os.path as osp
import subprocess
import sys

from mmhybrid.testing.toy import make_toy_data

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NUM_IMAGES = 16
DET_EPOCHS = 30  # 2 iterations each
SEG_ITERS = 60
#: no validation while training (the tests test the last checkpoint)
NO_VAL = {'val_dataloader': None, 'val_cfg': None, 'val_evaluator': None}


def run_tool(*args):
    """Run ``python *args`` in the checkout; its stdout (fails with the
    output's tail on a non-zero exit)."""
    proc = subprocess.run([sys.executable, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout


def cfg_options(options):
    return ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]


def toy_set(root, num_images=NUM_IMAGES):
    """The toy COCO and ADE sets under ``root``; returns ``root``."""
    make_toy_data(root, kinds=('coco', 'ade'),
                  coco=dict(num_train=num_images, num_val=1),
                  ade=dict(num_train=num_images, num_val=1))
    return root


def _in_process(split):
    return {f'{split}_dataloader.num_workers': 0,
            f'{split}_dataloader.persistent_workers': False}


def det_data(root):
    """Options that train and test a toy detection config on the toy
    COCO training images."""
    coco = f'{root}/coco/'
    out = {}
    for split in ('train', 'test'):
        out.update(_in_process(split))
        out.update({
            f'{split}_dataloader.dataset.data_root': coco,
            f'{split}_dataloader.dataset.ann_file':
            'annotations/instances_train2017.json',
            f'{split}_dataloader.dataset.data_prefix.img': 'train2017/'})
    out['test_evaluator.ann_file'] = \
        f'{coco}annotations/instances_train2017.json'
    return out


def seg_data(root):
    """Options that train and test a toy segmentation config on the toy
    ADE training images."""
    ade = f'{root}/ade/ADEChallengeData2016/'
    out = {}
    for split in ('train', 'test'):
        out.update(_in_process(split))
        out.update({
            f'{split}_dataloader.dataset.data_root': ade,
            f'{split}_dataloader.dataset.data_prefix.img_path':
            'images/training',
            f'{split}_dataloader.dataset.data_prefix.seg_map_path':
            'annotations/training'})
    return out


def train(config, work_dir, options):
    """``tools/train.py config``; the path of its last checkpoint."""
    run_tool('tools/train.py', config, '--work-dir', work_dir,
             *cfg_options(options))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()
