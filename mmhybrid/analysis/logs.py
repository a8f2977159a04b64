"""Training curves and training time from mmengine's JSON logs.

mmengine writes ``<work_dir>/<timestamp>/vis_data/scalars.json``: one JSON
object per line, training records (``loss``, ``lr``, ``time``, ``iter``,
``step`` and, for epoch-based runs, ``epoch``) and validation records
(metrics such as ``coco/bbox_mAP``, ``mIoU``, ``accuracy/top1`` with
``step`` = the epoch of an epoch-based run, the iteration otherwise).

A log may also be given as a run directory (``<work_dir>/<timestamp>``) or a
work dir (its latest run with a ``vis_data/scalars.json`` is used).
``tools/analysis_tools/analyze_logs.py`` is the command line over it.
"""
import glob
import json
import os.path as osp

import numpy as np

__all__ = ['LogError', 'resolve_log', 'load_json_log', 'available_keys',
           'is_epoch_based', 'key_series', 'plot_curve', 'cal_train_time',
           'train_time_report']

# records with one of these keys are bookkeeping, not curves
_META_KEYS = ('iter', 'epoch', 'step')


class LogError(ValueError):
    """A log or key that cannot be analysed, with the reason in words."""


# ------------------------------------------------------------- loading --
def resolve_log(path):
    """The scalars.json a LOG argument names (file, run dir or work dir)."""
    if osp.isfile(path):
        return path
    if osp.isdir(path):
        for pattern in ('vis_data/scalars.json', 'scalars.json',
                        '*/vis_data/scalars.json'):
            found = sorted(glob.glob(osp.join(path, pattern)))
            if found:
                return found[-1]  # timestamps sort: the latest run
        raise LogError(f'no vis_data/scalars.json under directory {path!r}')
    raise LogError(f'log file not found: {path!r}')


def load_json_log(path):
    """Return ``(path, records)``: the JSON objects of a scalars.json."""
    path = resolve_log(path)
    records = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise LogError(f'{path}:{lineno} is not JSON ({e.msg}); '
                               'expected one JSON object per line '
                               '(vis_data/scalars.json)') from e
            if isinstance(rec, dict):
                records.append(rec)
    if not records:
        raise LogError(f'{path} holds no log records')
    return path, records


def available_keys(records):
    """Numeric keys of the records, bookkeeping keys excluded, in order of
    first appearance."""
    keys = {}
    for rec in records:
        for k, v in rec.items():
            if k not in _META_KEYS and isinstance(v, (int, float)) and \
                    not isinstance(v, bool):
                keys.setdefault(k, None)
    return list(keys)


def is_epoch_based(records):
    return any('epoch' in r for r in records)


def key_series(records, key):
    """``(xs, ys, x_label)`` of ``key``: training keys against ``iter``
    (the global iteration in ``step``), validation keys against ``step``
    (labelled epoch for an epoch-based run)."""
    xs, ys, train = [], [], False
    for rec in records:
        if key not in rec:
            continue
        is_train = 'iter' in rec
        train = train or is_train
        if 'step' in rec:
            x = rec['step']
        elif 'iter' in rec:
            x = rec['iter']
        elif 'epoch' in rec:
            x = rec['epoch']
        else:
            x = len(xs) + 1
        xs.append(x)
        ys.append(rec[key])
    if train:
        label = 'iter'
    else:
        label = 'epoch' if is_epoch_based(records) else 'iter'
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), label


def _check_keys(logs, keys):
    for path, records in logs:
        have = available_keys(records)
        missing = [k for k in keys if k not in have]
        if missing:
            raise LogError(
                f'key(s) {missing} not in {path}; available keys: '
                f'{", ".join(have)}')


# ------------------------------------------------------------ commands --
def plot_curve(log_paths, keys=('loss', ), legend=None, title=None,
               out=None, style='whitegrid', dpi=100):
    """Plot ``keys`` of every log; save to ``out`` (PNG) or show."""
    import matplotlib
    if out is not None:
        matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    logs = [load_json_log(p) for p in log_paths]
    keys = list(keys)
    _check_keys(logs, keys)
    n = len(logs) * len(keys)
    if legend is None:
        legend = []
        for path, _ in logs:
            run = osp.basename(osp.dirname(osp.dirname(path))) or \
                osp.splitext(osp.basename(path))[0]
            legend += [f'{run}_{k}' if len(logs) > 1 else k for k in keys]
    elif len(legend) != n:
        raise LogError(f'--legend needs {n} names (logs x keys = '
                       f'{len(logs)} x {len(keys)}), got {len(legend)}')
    try:
        plt.style.use('seaborn-v0_8-' + style if style else 'default')
    except (OSError, ValueError):
        pass
    fig, axes = plt.subplots(len(keys), 1, squeeze=False,
                             figsize=(8, 3.2 * len(keys)))
    for li, (path, records) in enumerate(logs):
        for ki, key in enumerate(keys):
            ax = axes[ki][0]
            xs, ys, xlabel = key_series(records, key)
            marker = 'o' if len(xs) < 30 else None
            ax.plot(xs, ys, label=legend[li * len(keys) + ki],
                    linewidth=1, marker=marker, markersize=3)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(key)
            if key == 'lr' or key.endswith('lr'):
                ax.ticklabel_format(axis='y', style='sci', scilimits=(-2, 2))
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if out is None:
        plt.show()
    else:
        fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def cal_train_time(log_paths, include_outliers=False):
    """The time per iteration of each log (one dict a log): average over
    all training records, and per epoch for an epoch-based run. The first
    record of each epoch (or of an iteration-based run) includes the
    start-up and is dropped unless ``include_outliers``."""
    results = []
    for p in log_paths:
        path, records = load_json_log(p)
        train = [r for r in records if 'time' in r and 'iter' in r]
        if not train:
            raise LogError(f'{path} has no training records with a "time" '
                           f'key; available keys: '
                           f'{", ".join(available_keys(records))}')
        res = dict(log=path)
        if is_epoch_based(train):
            by_epoch = {}
            for r in train:
                by_epoch.setdefault(r.get('epoch', 0), []).append(r['time'])
            if not include_outliers:
                by_epoch = {e: t[1:] if len(t) > 1 else t
                            for e, t in by_epoch.items()}
            epochs = sorted(by_epoch)
            means = np.array([np.mean(by_epoch[e]) for e in epochs])
            slow, fast = int(means.argmax()), int(means.argmin())
            all_t = np.concatenate([by_epoch[e] for e in epochs])
            res.update(
                slowest_epoch=epochs[slow], slowest_time=float(means[slow]),
                fastest_epoch=epochs[fast], fastest_time=float(means[fast]),
                epoch_std=float(means.std()), mean_time=float(all_t.mean()))
        else:
            times = [r['time'] for r in train]
            if not include_outliers and len(times) > 1:
                times = times[1:]
            all_t = np.asarray(times, dtype=float)
            res.update(mean_time=float(all_t.mean()))
        last = max(r.get('step', r['iter']) for r in train)
        res.update(std_time=float(all_t.std()), num_iters=int(last),
                   total_time=float(all_t.mean() * last),
                   num_records=int(all_t.size))
        results.append(res)
    return results


def train_time_report(res):
    """The printed lines of one :func:`cal_train_time` result."""
    lines = [f'-----Analyze train time of {res["log"]}-----']
    if 'slowest_epoch' in res:
        lines += [f'slowest epoch {res["slowest_epoch"]}, average time is '
                  f'{res["slowest_time"]:.4f} s/iter',
                  f'fastest epoch {res["fastest_epoch"]}, average time is '
                  f'{res["fastest_time"]:.4f} s/iter',
                  f'time std over epochs is {res["epoch_std"]:.4f}']
    lines += [f'average iter time: {res["mean_time"]:.4f} s/iter '
              f'(std {res["std_time"]:.4f}, over {res["num_records"]} '
              'records)',
              f'{res["num_iters"]} iters -> estimated train time '
              f'{res["total_time"]:.1f} s ({res["total_time"] / 3600:.2f} h)']
    return lines
