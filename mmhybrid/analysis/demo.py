"""The demo's library part: generate the synthetic toy data, train Mask
R-CNN and Semantic FPN of a backbone family from scratch on CPU, test both,
draw predictions, and summarise the metrics read back from the test results.

Every step runs one of the project's own command lines in a checkout
(``tools/train.py``, ``tools/test.py``, ``tools/inference.py``) as a
subprocess, from the checkout's root ``repo``; ``tools/run_demo.py`` is the
command line over :func:`run_demo`.
"""
import glob
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

from .logs import LogError, load_json_log

__all__ = ['DemoError', 'DEMO_JOBS', 'toy_configs', 'check_jobs', 'run_demo',
           'run_job', 'demo_summary', 'write_demo_summary', 'flat_metrics',
           'read_test_metrics', 'read_train_scalars', 'plot_loss_curve']

DEFAULT_DATA_DIR = 'data/toy'

# job -> the prefix of its toy configs (configs/demo/<prefix>_<family>_<arch>
# _toy.py), its metrics, where its data lives under the data dir, the
# overrides that point it at another data dir, and the --quick overrides.
DEMO_JOBS = {
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

#: the least longest side (px) of the prediction pictures: the 128 px toy
#: images are drawn 4x enlarged, so that labels do not cover the objects
VIEW_SIZE = 512
# val images per job whose predictions are drawn with the trained checkpoint
NUM_PREDICTIONS = 3


class DemoError(RuntimeError):
    pass


def toy_configs(repo):
    """``{family: {job: config}}`` read from the toy config names
    ``configs/demo/<job prefix>_<family>_<arch>_toy.py`` under ``repo``, so
    that a new family's toy configs are found without an edit here. Where a
    family has toy configs of several archs, the first in name order runs.
    Configs are given relative to ``repo``."""
    families = {}
    for job, spec in DEMO_JOBS.items():
        prefix = spec['config_prefix'] + '_'
        pattern = osp.join(repo, 'configs', 'demo', f'{prefix}*_toy.py')
        for path in sorted(glob.glob(pattern)):
            name = osp.basename(path)[len(prefix):-len('_toy.py')]
            if '_' not in name:  # no arch: not a <family>_<arch> config
                continue
            family = name.rsplit('_', 1)[0]
            families.setdefault(family, {}).setdefault(
                job, osp.relpath(path, repo))
    return families


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


def _run(cmd, what, repo):
    print(f'\n>>> {what}\n$ {" ".join(cmd)}', flush=True)
    start = time.time()
    proc = subprocess.run(cmd, cwd=repo, env=_env())
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


def _last_checkpoint(work_dir, repo):
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise DemoError(f'training wrote no checkpoint ({pointer} missing)')
    with open(pointer) as f:
        ckpt = f.read().strip()
    if not osp.isabs(ckpt):
        ckpt = osp.join(repo, ckpt)
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
    try:
        return load_json_log(path)[1], path
    except LogError as e:
        raise DemoError(str(e)) from None


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


def predict_val_images(name, config, ckpt, data_dir, work_dir, repo):
    """Draw the trained model's predictions on the first
    :data:`NUM_PREDICTIONS` val images with ``tools/inference.py``: copies
    of the images in ``<work_dir>/predictions/images/``, one PNG each in
    ``<work_dir>/predictions/``, enlarged to :data:`VIEW_SIZE` px. Returns the PNG paths and the time."""
    val_dir = DEMO_JOBS[name]['val_images'](data_dir)
    if not osp.isabs(val_dir):
        val_dir = osp.join(repo, val_dir)
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
                    ckpt, '--out-dir', pred_dir, '--view-size',
                    str(VIEW_SIZE)],
                   f'[{name}] predict {len(images)} val images {cfg_name}',
                   repo)
    pictures = [osp.join(pred_dir, osp.splitext(osp.basename(img))[0] +
                         '.png') for img in images]
    missing = [p for p in pictures if not osp.isfile(p)]
    if missing:
        raise DemoError(f'tools/inference.py wrote no {", ".join(missing)}')
    return pictures, elapsed


def run_job(name, config, data_dir, out_dir, repo, quick=False):
    """Train, test and draw one job (``'det'`` or ``'seg'``) of the demo
    with ``config`` in ``<out_dir>/<config name>``; returns its metrics and
    where its files are."""
    job = DEMO_JOBS[name]
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
    if quick:
        overrides.update(job['quick_overrides'])
    test_overrides = data_overrides

    before = _timestamp_dirs(work_dir)
    train_time = _run([sys.executable, 'tools/train.py', config,
                       '--work-dir', work_dir] + _cfg_options(overrides),
                      f'[{name}] train {cfg_name}', repo)
    train_log_dir = _new_log_dir(work_dir, before, 'training')
    ckpt = _last_checkpoint(work_dir, repo)

    before = _timestamp_dirs(work_dir)
    test_time = _run([sys.executable, 'tools/test.py', config, ckpt,
                      '--work-dir', work_dir] + _cfg_options(test_overrides),
                     f'[{name}] test {cfg_name}', repo)
    test_log_dir = _new_log_dir(work_dir, before, 'testing')
    predictions, predict_time = predict_val_images(name, config, ckpt,
                                                   data_dir, work_dir, repo)

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




def check_jobs(families, family, only):
    """``None``, or why ``family`` cannot run the jobs ``only``."""
    for job in only:
        if job not in families[family]:
            return (f'--family {family} has no {job} toy config (configs/'
                    f'demo/{DEMO_JOBS[job]["config_prefix"]}_{family}_<arch>'
                    f'_toy.py); choose the jobs it has with --only')
    return None


def run_demo(repo, configs, only=None, out_dir='work_dirs/demo',
             data_dir=None, quick=False, seed=0):
    """The toy data, then each job of ``only`` (default: all) with its
    config of ``configs`` (``{job: config}``, :func:`toy_configs`); returns
    ``(results, metrics)``. Raises :class:`DemoError` naming the step that
    failed. ``data_dir`` defaults to ``data/toy`` (``<out_dir>/data`` with
    ``quick``, which also takes tiny sets and a few iterations)."""
    from mmhybrid.testing import make_toy_data
    only = sorted(DEMO_JOBS) if only is None else only
    out_dir = osp.abspath(out_dir)
    data_dir = data_dir or (osp.join(out_dir, 'data') if quick
                            else DEFAULT_DATA_DIR)
    os.makedirs(out_dir, exist_ok=True)
    print(f'>>> toy data -> {data_dir}', flush=True)
    t = time.time()
    data_root = data_dir if osp.isabs(data_dir) else osp.join(repo, data_dir)
    kwargs = QUICK_DATA if quick else {}
    try:
        info = make_toy_data(data_root, seed=seed, **kwargs)
    except OSError as e:
        raise DemoError(f'could not write the toy data to {data_root}: '
                        f'{e}') from e
    state = ', '.join(f'{k} {"generated" if v["generated"] else "reused"}'
                      for k, v in info.items())
    print(f'<<< toy data: {state} in {time.time() - t:.1f}s', flush=True)
    results = [run_job(name, configs[name], data_dir, out_dir, repo, quick)
               for name in only]
    metrics = {}
    for r in results:
        metrics.update(r['metrics'])
    return results, metrics


def demo_summary(results, metrics, elapsed):
    """The summary text of a :func:`run_demo`: the metrics, then where the
    checkpoints, logs, loss curves and prediction pictures are."""
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
    return '\n'.join(lines)


def write_demo_summary(out_dir, text, results, metrics, elapsed, quick):
    """``<out_dir>/summary.txt`` (the text) and ``summary.json``."""
    out_dir = osp.abspath(out_dir)
    with open(osp.join(out_dir, 'summary.txt'), 'w') as f:
        f.write(text.lstrip('\n') + '\n')
    with open(osp.join(out_dir, 'summary.json'), 'w') as f:
        json.dump(dict(metrics=metrics, elapsed_s=elapsed, quick=quick,
                       jobs=results), f, indent=1)


def flat_metrics(metrics):
    """The metric names whose value is not above 0 (nothing learnt)."""
    return [k for k, v in metrics.items() if not v > 0]
