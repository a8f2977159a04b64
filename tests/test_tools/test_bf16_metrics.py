"""tools/test.py --bf16 (and --deploy --bf16) keeps the toy metrics within
0.01 of float32: a toy Mask R-CNN and a toy Semantic FPN are trained for a
few iterations on a small toy set (enough for a clearly non-zero AP/mIoU),
then tested in each form through the command line, which says which form
ran. Training and testing run without dataloader workers (deterministic,
and less start-up time on 2 cores)."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from mmhybrid.testing.toy import make_toy_data

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DET = 'configs/demo/maskrcnn_shvit_s1_toy.py'
SEG = 'configs/demo/fpn_shvit_s1_toy.py'
FORMS = {(): 'as trained (fp32)', ('--bf16', ): 'bf16 autocast (CPU)',
         ('--deploy', '--bf16'): 'deploy + bf16 autocast (CPU)'}

# the toy sets: training images are also the test images (a model trained
# for a few iterations then scores clearly above zero on them)
NUM_IMAGES = 16
DET_EPOCHS = 30  # 2 iterations each
SEG_ITERS = 60


def _run(*args):
    proc = subprocess.run([sys.executable, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout


def _options(options):
    return ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('bf16_toy'))
    make_toy_data(root, kinds=('coco', 'ade'),
                  coco=dict(num_train=NUM_IMAGES, num_val=1),
                  ade=dict(num_train=NUM_IMAGES, num_val=1))
    return root


def _in_process(split):
    # no dataloader worker: on 2 cores it only costs start-up time here
    return {f'{split}_dataloader.num_workers': 0,
            f'{split}_dataloader.persistent_workers': False}


def _det_data(root):
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


def _seg_data(root):
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


_NO_VAL = {'val_dataloader': None, 'val_cfg': None, 'val_evaluator': None}


def _train(config, work_dir, options):
    _run('tools/train.py', config, '--work-dir', work_dir,
         *_options(options))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def _test_forms(config, ckpt, work_dir, data):
    """``{flags: test_metrics.json}`` for every form in :data:`FORMS`."""
    results = {}
    for flags, form in FORMS.items():
        out_dir = osp.join(work_dir, '_'.join(
            ['test'] + [f.lstrip('-') for f in flags or ('fp32', )]))
        stdout = _run('tools/test.py', config, ckpt, '--work-dir', out_dir,
                      *flags, *_options(data))
        assert f'inference form: {form}\n' in stdout
        path = stdout.split('metrics written to ')[-1].strip()
        with open(path) as f:
            metrics = json.load(f)
        assert metrics['inference_form'] == form
        assert metrics['bf16'] == ('--bf16' in flags)
        assert metrics['deploy'] == ('--deploy' in flags)
        results[flags] = metrics
    return results


@pytest.mark.slow
def test_maskrcnn_bf16_ap_within_001_of_fp32(toy_root, tmp_path):
    data = _det_data(toy_root)
    ckpt = _train(DET, str(tmp_path), {
        **data, **_NO_VAL, 'train_cfg.max_epochs': DET_EPOCHS,
        'train_cfg.val_interval': DET_EPOCHS,
        'param_scheduler.1.T_max': DET_EPOCHS,
        'param_scheduler.1.end': DET_EPOCHS,
        'param_scheduler.0.end': DET_EPOCHS // 2,  # iterations
        'default_hooks.checkpoint.interval': DET_EPOCHS})
    results = _test_forms(DET, ckpt, str(tmp_path), data)
    fp32 = results[()]
    # measured: 0.276 / 0.532 (bf16 0.279 / 0.534, deploy + bf16 0.284 /
    # 0.527). A model trained this little has unsure scores, so bf16 moves
    # its AP more than that of make demo's checkpoint (0.002 there): 40
    # iterations gave 0.154 -> 0.141 (bf16), 32 images x 60 iterations a
    # segm_mAP of 0.432 -> 0.442 (deploy + bf16).
    assert fp32['coco/bbox_mAP'] > 0.15 and fp32['coco/segm_mAP'] > 0.3, \
        fp32
    for flags, metrics in results.items():
        for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
            assert abs(metrics[key] - fp32[key]) <= 0.01, (flags, key,
                                                           metrics[key],
                                                           fp32[key])


@pytest.mark.slow
def test_semantic_fpn_bf16_miou_within_001_of_fp32(toy_root, tmp_path):
    data = _seg_data(toy_root)
    ckpt = _train(SEG, str(tmp_path), {
        **data, **_NO_VAL, 'train_cfg.max_iters': SEG_ITERS,
        'train_cfg.val_interval': SEG_ITERS,
        'param_scheduler.0.end': SEG_ITERS // 3,
        'param_scheduler.1.end': SEG_ITERS,
        'default_hooks.checkpoint.interval': SEG_ITERS})
    results = _test_forms(SEG, ckpt, str(tmp_path), data)
    fp32 = results[()]
    # measured: 59.13 (bf16 59.14, deploy + bf16 59.15); background alone
    # would give about 22
    assert fp32['mIoU'] > 40, fp32  # percent, 4 classes
    for flags, metrics in results.items():
        # mmseg reports mIoU in percent: 0.01 of a fraction is 1 point
        assert abs(metrics['mIoU'] - fp32['mIoU']) <= 1.0, (
            flags, metrics['mIoU'], fp32['mIoU'])
