"""The mmhybrid demo: generate the synthetic toy data, train Mask R-CNN and
Semantic FPN with an SHViT-S1 backbone from scratch on CPU, test both and
print a summary of the metrics read back from the test results.

Every step goes through the project's own front doors
(``tools/misc/make_toy_data.py``'s API, ``tools/train.py``,
``tools/test.py``, ``tools/inference.py``). The summary ends with::

    bbox_mAP: <value>
    segm_mAP: <value>
    mIoU: <value>

followed by where the checkpoints, logs and loss-curve PNGs are, and the
prediction pictures ``tools/inference.py`` drew with the trained checkpoint
for a few val images (``<work_dir>/predictions/*.png``).

Example::

    python tools/run_demo.py                # the full demo (`make demo`)
    python tools/run_demo.py --quick --out-dir /tmp/demo   # pipeline check
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

# the repository: the tools and configs run from it (mmhybrid itself is
# installed, see `make install`)
REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))

DEFAULT_DATA_DIR = 'data/toy'

# job -> the prefix of its toy configs (configs/demo/<prefix>_<family>_<arch>
# _toy.py), its metrics, where its data lives under the data dir, the
# overrides that point it at another data dir, and the --quick overrides.
JOBS = {
    'det': dict(
        config_prefix='maskrcnn',
        metrics=dict(bbox_mAP='coco/bbox_mAP', segm_mAP='coco/segm_mAP'),
        val_images=lambda root: f'{root}/coco/val2017',
        data_overrides=lambda root: {
            'train_dataloader.dataset.data_root': f'{root}/coco/',
            'val_dataloader.dataset.data_root': f'{root}/coco/',
            'test_dataloader.dataset.data_root': f'{root}/coco/',
            'val_evaluator.ann_file':
            f'{root}/coco/annotations/instances_val2017.json',
            'test_evaluator.ann_file':
            f'{root}/coco/annotations/instances_val2017.json',
        },
        quick_overrides={
            'train_cfg.max_epochs': 1,
            'train_dataloader.batch_size': 4,
            'default_hooks.checkpoint.interval': 1,
            'default_hooks.logger.interval': 1,
        }),
    'seg': dict(
        config_prefix='fpn',
        metrics=dict(mIoU='mIoU'),
        val_images=lambda root: f'{root}/ade/ADEChallengeData2016/images/'
        'validation',
        data_overrides=lambda root: {
            'train_dataloader.dataset.data_root':
            f'{root}/ade/ADEChallengeData2016/',
            'val_dataloader.dataset.data_root':
            f'{root}/ade/ADEChallengeData2016/',
            'test_dataloader.dataset.data_root':
            f'{root}/ade/ADEChallengeData2016/',
        },
        quick_overrides={
            'train_cfg.max_iters': 4,
            'train_dataloader.batch_size': 4,
            'default_hooks.checkpoint.interval': 4,
            'default_hooks.logger.interval': 1,
        }),
}

# The toy-set sizes of the full demo come from the generator's defaults;
# --quick uses tiny ones.
QUICK_DATA = dict(
    coco=dict(num_train=8, num_val=4),
    ade=dict(num_train=8, num_val=4),
    imagenet=dict(num_train_per_class=2, num_val_per_class=1))

# Training runs without validation: the test step evaluates afterwards.
NO_VAL = {'val_dataloader': None, 'val_cfg': None, 'val_evaluator': None}

# val images per job whose predictions are drawn with the trained checkpoint
NUM_PREDICTIONS = 3


class DemoError(RuntimeError):
    pass


def toy_configs():
    """``{family: {job: config}}`` read from the toy config names
    ``configs/demo/<job prefix>_<family>_<arch>_toy.py``, so that a new
    family's toy configs are found without an edit here. Where a family has
    toy configs of several archs, the first in name order runs."""
    families = {}
    for job, spec in JOBS.items():
        prefix = spec['config_prefix'] + '_'
        pattern = osp.join(REPO, 'configs', 'demo', f'{prefix}*_toy.py')
        for path in sorted(glob.glob(pattern)):
            name = osp.basename(path)[len(prefix):-len('_toy.py')]
            if '_' not in name:  # no arch: not a <family>_<arch> config
                continue
            family = name.rsplit('_', 1)[0]
            families.setdefault(family, {}).setdefault(
                job, osp.relpath(path, REPO))
    return families


def parse_args(families):
    parser = argparse.ArgumentParser(
        description='Generate toy data, train and test a demo detector '
        'and segmentor (SHViT by default) on CPU, and summarise the results.')
    parser.add_argument('--out-dir', default='work_dirs/demo',
                        help='where work dirs (checkpoints, logs, loss '
                        'curves) and the summary go')
    parser.add_argument('--data-dir', default=None,
                        help=f'toy data folder (default: {DEFAULT_DATA_DIR}'
                        ', or <out-dir>/data with --quick)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny data and a few iterations: checks the '
                        'pipeline, not learning')
    parser.add_argument('--family', choices=sorted(families),
                        default='shvit',
                        help='backbone family whose toy configs run')
    parser.add_argument('--only', nargs='+', choices=sorted(JOBS),
                        default=sorted(JOBS), help='run only these jobs')
    parser.add_argument('--no-check', action='store_true',
                        help='do not fail when a metric is not above 0')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the toy data')
    args = parser.parse_args()
    for job in args.only:
        if job not in families[args.family]:
            parser.error(
                f'--family {args.family} has no {job} toy config (configs/'
                f'demo/{JOBS[job]["config_prefix"]}_{args.family}_<arch>'
                f'_toy.py); choose the jobs it has with --only')
    args.configs = families[args.family]
    return args


def _cfg_options(options):
    args = []
    for key, value in options.items():
        args.append(f'{key}={value}')
    return ['--cfg-options'] + args if args else []


def _env():
    env = dict(os.environ)
    env.setdefault('MPLBACKEND', 'Agg')
    # OpenMP threads that spin while waiting stall badly when the 2 cores are
    # shared (the dataloader worker, other jobs); sleeping costs ~nothing.
    env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    return env


def _run(cmd, what):
    print(f'\n>>> {what}\n$ {" ".join(cmd)}', flush=True)
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=_env())
    if proc.returncode != 0:
        raise DemoError(f'{what} failed (exit code {proc.returncode}); see '
                        'its output above')
    elapsed = time.time() - start
    print(f'<<< {what}: done in {elapsed:.1f}s', flush=True)
    return elapsed


def _timestamp_dirs(work_dir):
    return {d for d in glob.glob(osp.join(work_dir, '*'))
            if osp.isdir(d) and osp.basename(d)[:8].isdigit()}


def _new_log_dir(work_dir, before, what):
    new = sorted(_timestamp_dirs(work_dir) - before)
    if not new:
        raise DemoError(f'{what} wrote no log folder under {work_dir}')
    return new[-1]


def _last_checkpoint(work_dir):
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise DemoError(f'training wrote no checkpoint ({pointer} missing)')
    with open(pointer) as f:
        ckpt = f.read().strip()
    if not osp.isabs(ckpt):
        ckpt = osp.join(REPO, ckpt)
    if not osp.isfile(ckpt):
        raise DemoError(f'last checkpoint {ckpt} does not exist')
    return ckpt


def read_test_metrics(log_dir):
    """The metrics mmengine's LoggerHook dumped after the test loop
    (``<log_dir>/<timestamp>.json``)."""
    path = osp.join(log_dir, osp.basename(log_dir) + '.json')
    if not osp.isfile(path):
        raise DemoError(f'test wrote no metrics file {path}')
    metrics = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                metrics.update(json.loads(line))
    return metrics, path


def read_train_scalars(log_dir):
    path = osp.join(log_dir, 'vis_data', 'scalars.json')
    if not osp.isfile(path):
        raise DemoError(f'training wrote no scalars file {path}')
    records = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    return records, path


def plot_loss_curve(records, title, out_file):
    """Plot every ``loss*`` scalar against the iteration into a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    # 'loss' is the total; the parts are 'loss_cls', 'decode.loss_ce', ...
    keys = sorted({k for r in records for k in r
                   if k.split('.')[-1].startswith('loss')})
    if not keys:
        raise DemoError(f'no loss values logged for {title}')
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for key in keys:
        pts = [(r.get('iter', r.get('step')), r[key]) for r in records
               if key in r]
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.plot(xs, ys, label=key, linewidth=2.2 if key == 'loss' else 1.0)
    ax.set_xlabel('iteration')
    ax.set_ylabel('loss')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return out_file


def predict_val_images(name, config, ckpt, data_dir, work_dir):
    """Draw the trained model's predictions on the first
    :data:`NUM_PREDICTIONS` val images with ``tools/inference.py``: copies
    of the images in ``<work_dir>/predictions/images/``, one PNG each in
    ``<work_dir>/predictions/``. Returns the PNG paths and the time."""
    val_dir = JOBS[name]['val_images'](data_dir)
    if not osp.isabs(val_dir):
        val_dir = osp.join(REPO, val_dir)
    images = sorted(glob.glob(osp.join(val_dir, '*.jpg')))[:NUM_PREDICTIONS]
    if not images:
        raise DemoError(f'no val images (*.jpg) in {val_dir}')
    pred_dir = osp.join(work_dir, 'predictions')
    inputs = osp.join(pred_dir, 'images')
    os.makedirs(inputs, exist_ok=True)
    for img in images:
        shutil.copy2(img, inputs)
    cfg_name = osp.splitext(osp.basename(config))[0]
    elapsed = _run([sys.executable, 'tools/inference.py', inputs, config,
                    ckpt, '--out-dir', pred_dir],
                   f'[{name}] predict {len(images)} val images {cfg_name}')
    pictures = [osp.join(pred_dir, osp.splitext(osp.basename(img))[0] +
                         '.png') for img in images]
    missing = [p for p in pictures if not osp.isfile(p)]
    if missing:
        raise DemoError(f'tools/inference.py wrote no {", ".join(missing)}')
    return pictures, elapsed


def run_job(name, args, data_dir, out_dir):
    job = JOBS[name]
    config = args.configs[name]
    cfg_name = osp.splitext(osp.basename(config))[0]
    work_dir = osp.join(out_dir, cfg_name)
    if osp.isdir(work_dir) and os.listdir(work_dir):
        # never overwrite an earlier run's checkpoints, logs or results
        kept = f'{work_dir}.{time.strftime("%Y%m%d_%H%M%S")}'
        os.rename(work_dir, kept)
        print(f'[{name}] earlier results moved to {kept}', flush=True)
    os.makedirs(work_dir, exist_ok=True)
    data_overrides = {}
    if osp.normpath(data_dir) != osp.normpath(DEFAULT_DATA_DIR):
        data_overrides = job['data_overrides'](data_dir)
    # training without the val settings; testing needs only the data root
    overrides = {k: v for k, v in data_overrides.items()
                 if not k.startswith('val_')}
    overrides.update(NO_VAL)
    if args.quick:
        overrides.update(job['quick_overrides'])
    test_overrides = data_overrides

    before = _timestamp_dirs(work_dir)
    train_time = _run([sys.executable, 'tools/train.py', config,
                       '--work-dir', work_dir] + _cfg_options(overrides),
                      f'[{name}] train {cfg_name}')
    train_log_dir = _new_log_dir(work_dir, before, 'training')
    ckpt = _last_checkpoint(work_dir)

    before = _timestamp_dirs(work_dir)
    test_time = _run([sys.executable, 'tools/test.py', config, ckpt,
                      '--work-dir', work_dir] + _cfg_options(test_overrides),
                     f'[{name}] test {cfg_name}')
    test_log_dir = _new_log_dir(work_dir, before, 'testing')
    predictions, predict_time = predict_val_images(name, config, ckpt,
                                                   data_dir, work_dir)

    raw, metrics_file = read_test_metrics(test_log_dir)
    metrics = {}
    for short, key in job['metrics'].items():
        if key not in raw:
            raise DemoError(f'{metrics_file} has no {key!r} '
                            f'(keys: {sorted(raw)})')
        value = float(raw[key])
        if not math.isfinite(value):
            raise DemoError(f'{key} in {metrics_file} is {value}')
        metrics[short] = value

    records, _ = read_train_scalars(train_log_dir)
    curve = plot_loss_curve(records, f'{cfg_name} training loss',
                            osp.join(work_dir, 'loss_curve.png'))
    return dict(name=cfg_name, metrics=metrics, metrics_file=metrics_file,
                checkpoint=ckpt, work_dir=work_dir,
                train_log=osp.join(train_log_dir,
                                   osp.basename(train_log_dir) + '.log'),
                test_log=osp.join(test_log_dir,
                                  osp.basename(test_log_dir) + '.log'),
                loss_curve=curve, predictions=predictions,
                train_time=train_time, test_time=test_time,
                predict_time=predict_time)


def main():
    args = parse_args(toy_configs())
    start = time.time()
    out_dir = osp.abspath(args.out_dir)
    data_dir = args.data_dir or (osp.join(out_dir, 'data') if args.quick
                                 else DEFAULT_DATA_DIR)
    os.makedirs(out_dir, exist_ok=True)
    try:
        from mmhybrid.testing import make_toy_data
        print(f'>>> toy data -> {data_dir}', flush=True)
        t = time.time()
        data_root = data_dir if osp.isabs(data_dir) else osp.join(
            REPO, data_dir)
        kwargs = QUICK_DATA if args.quick else {}
        try:
            info = make_toy_data(data_root, seed=args.seed, **kwargs)
        except OSError as e:
            raise DemoError(f'could not write the toy data to {data_root}: '
                            f'{e}') from e
        state = ', '.join(f'{k} {"generated" if v["generated"] else "reused"}'
                          for k, v in info.items())
        print(f'<<< toy data: {state} in {time.time() - t:.1f}s', flush=True)

        results = [run_job(name, args, data_dir, out_dir)
                   for name in args.only]
    except DemoError as e:
        print(f'\nDEMO FAILED: {e}', file=sys.stderr, flush=True)
        return 1

    metrics = {}
    for r in results:
        metrics.update(r['metrics'])
    elapsed = time.time() - start
    lines = ['', '=' * 24 + ' mmhybrid demo summary ' + '=' * 24]
    lines += [f'{k}: {v:.4f}' for k, v in metrics.items()]
    lines.append('(bbox_mAP/segm_mAP: COCO AP@[.5:.95] in [0, 1]; mIoU: '
                 'mmseg percent over background + 3 shapes)')
    for r in results:
        lines.append(f'[{r["name"]}] train {r["train_time"]:.0f}s, '
                     f'test {r["test_time"]:.0f}s, '
                     f'predict {r["predict_time"]:.0f}s')
        lines.append(f'  checkpoint: {r["checkpoint"]}')
        lines.append(f'  logs: {r["train_log"]} (train), {r["test_log"]} '
                     '(test)')
        lines.append(f'  test metrics: {r["metrics_file"]}')
        lines.append(f'  loss curve: {r["loss_curve"]}')
        lines.append(f'  predictions: {", ".join(r["predictions"])}')
    lines.append(f'checkpoints: {", ".join(r["checkpoint"] for r in results)}')
    lines.append(f'logs: {", ".join(r["work_dir"] for r in results)}')
    lines.append(f'loss curves: {", ".join(r["loss_curve"] for r in results)}')
    lines.append('prediction pictures: ' + ', '.join(
        p for r in results for p in r['predictions']))
    lines.append(f'total elapsed: {elapsed:.1f}s ({elapsed / 60:.1f} min)')
    text = '\n'.join(lines)
    print(text, flush=True)
    with open(osp.join(out_dir, 'summary.txt'), 'w') as f:
        f.write(text.lstrip('\n') + '\n')
    with open(osp.join(out_dir, 'summary.json'), 'w') as f:
        json.dump(dict(metrics=metrics, elapsed_s=elapsed, quick=args.quick,
                       jobs=results), f, indent=1)

    if not args.quick and not args.no_check:
        flat = [k for k, v in metrics.items() if not v > 0]
        if flat:
            print(f'\nDEMO FAILED: {", ".join(flat)} not above 0: the '
                  'models did not learn', file=sys.stderr)
            return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
