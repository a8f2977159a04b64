"""Tables, JSON and plots of benchmark results (:mod:`.benchmark`)."""
import json
import os
import os.path as osp
import platform

import torch

from .benchmark import BenchmarkError, form_name

__all__ = ['throughput_table', 'task_table', 'train_table',
           'plot_accuracy_throughput', 'save_results', 'load_results']


def throughput_table(results):
    """Markdown table of :func:`~.benchmark.benchmark_models` results (also
    of JSON from older runs without the GEMM columns)."""
    head = ('| model | mode | dtype | batch | input | img/s | latency ms '
            '| peak MB | GFLOP/s | GEMM GFLOP/s (mm / 1x1 conv) '
            '| of GEMM (mm / 1x1 conv) |')
    sep = '|---|---|---|---|---|---|---|---|---|---|---|'
    has_timm = any('timm' in r for r in results)
    if has_timm:
        head += ' timm img/s | ours/timm |'
        if any(r['channels_last'] and not r['timm']['channels_last']
               for r in results if 'timm' in r):
            head = head.replace('timm img/s', 'timm img/s (NCHW)')
        sep += '---|---|'
    lines = [head, sep]
    for r in results:
        line = (f"| {r['model']} | {r['mode']} | {r['dtype']} | "
                f"{r['batch_size']} | {r['shape'][0]}x{r['shape'][1]} | "
                f"{r['throughput']:.1f} | {r['latency_ms']:.2f} | "
                f"{r['peak_memory_mb']:.0f} |")
        if 'gemm' in r:  # absent from JSON of older runs (--replot)
            g, f = r['gemm'], r['gemm_fraction']
            line += (f" {r['gflops_per_s']:.1f} | "
                     f"{g['mm_gflops_per_s']:.1f} / "
                     f"{g['conv1x1_gflops_per_s']:.1f} | "
                     f"{f['mm']:.2f} / {f['conv1x1']:.2f} |")
        else:
            line += ' - | - | - |'
        if has_timm:
            if 'timm' in r:
                line += (f" {r['timm']['throughput']:.1f} | "
                         f"{r['ratio_vs_timm']:.2f}x |")
            else:
                line += ' - | - |'
        lines.append(line)
    return '\n'.join(lines)


def task_table(rows):
    """Latency per form of :func:`~.benchmark.benchmark_task` rows (with the
    speed-up over every baseline form), then the per-part breakdown in ms
    per predict call (per batch; "other": data movement,
    post-processing)."""
    bases = [f"{b['model']} {form_name(b)}" for b in rows
             if b['role'] == 'baseline']
    head = ('| model | form | batch | input | predict ms (median) | img/s | '
            'peak MB | dets |' + ''.join(f' vs {b} |' for b in bases))
    lines = [head, '|' + '---|' * (head.count('|') - 1)]
    for r in rows:
        dets = '-' if r['detections'] is None else r['detections']
        lines.append(
            f"| {r['model']} | {form_name(r)} | {r.get('batch', 1)} | "
            f"{r['shape'][0]}x{r['shape'][1]} | {r['latency_ms']:.0f} "
            f"({r['latency_median_ms']:.0f}) | "
            f"{r.get('throughput', 0):.1f} | {r['peak_memory_mb']:.0f} | "
            f'{dets} |' + ''.join(f" {r['speedup'][b]:.2f}x |"
                                  for b in bases))
    lines += [f"{r['model']} {form_name(r)}: {r['compiled']}"
              for r in rows if r.get('compiled')]
    labels = []
    for r in rows:
        labels += [k for k in r['parts_ms'] if k not in labels]
    cols = [f"{r['model']} {form_name(r)}" for r in rows]
    lines += ['', '| part (ms) | ' + ' | '.join(cols) + ' |',
              '|---|' + '---:|' * len(cols)]
    for label in labels + ['other']:
        cells = []
        for r in rows:
            p = r['parts_ms']
            if label == 'other':  # data movement, post-processing
                cells.append(r['latency_ms'] - sum(
                    v for k, v in p.items() if '.' not in k))
            else:
                cells.append(p.get(label))
        name = '. ' + label.split('.', 1)[1] if '.' in label else label
        lines.append(f'| {name} | ' + ' | '.join(
            '-' if v is None else f'{v:.0f}' for v in cells) + ' |')
    return '\n'.join(lines)


def _img_s(x):
    """Images/s with 3 significant digits below 100 (a CPU training step
    can take seconds), else one decimal."""
    return f'{x:.3g}' if x < 100 else f'{x:.1f}'


def train_table(rows):
    """The training step per model of
    :func:`~.train_timing.benchmark_train` rows: images/s, ms per
    iteration, peak memory (model state + the step's peak), and against
    each baseline the ratio of images/s and of peak memory; then a line
    saying how the peak memory was measured."""
    from .train_timing import PEAK_MEMORY_KINDS
    bases = [b['model'] for b in rows if b['role'] == 'baseline']
    head = ('| model | input | batch | optim wrapper (optimizer) | img/s | '
            'ms/iter '
            '(median) | peak MB (state + step) | params changed |' +
            ''.join(f' vs {b}: speed / memory |' for b in bases))
    lines = [head, '|' + '---|' * (head.count('|') - 1)]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['shape'][0]}x{r['shape'][1]} | "
            f"{r['batch_size']} | {r['optim_wrapper']} | "
            f"{_img_s(r['throughput'])} | {r['latency_ms']:.0f} "
            f"({r['latency_median_ms']:.0f}) | {r['peak_memory_mb']:.0f} "
            f"({r['state_mb']:.0f} + {r['step_peak_mb']:.0f}) | "
            f"{100 * r['params_changed']:.0f}% |" + ''.join(
                f" {r['vs'][b]['speed']:.2f}x / {r['vs'][b]['memory']:.2f}x |"
                for b in bases))
    bad = [f"{r['model']}: {r['nonfinite_losses']} steps"
           for r in rows if r.get('nonfinite_losses')]
    kinds = sorted({r['peak_memory_kind'] for r in rows})
    lines += ['', f"{rows[0]['device']}, {rows[0]['threads']} threads"
              + (', AMP' if rows[0]['amp'] else '') + '; peak memory: ' +
              '; '.join(PEAK_MEMORY_KINDS.get(k, k) for k in kinds)]
    if bad:
        lines.append('non-finite losses: ' + ', '.join(bad))
    return '\n'.join(lines)


def _family(model_name):
    """'imagenet_shvit_s1' -> 'shvit' (configs of one family share a line)."""
    name = model_name.replace('imagenet_', '')
    return name.rsplit('_', 1)[0] if '_' in name else name


def plot_accuracy_throughput(results, path):
    """Published top-1 vs throughput (log scale) as a PNG: one line per
    model family and (dtype, mode); colour = family, dashed = unfused.
    Raises :class:`~.benchmark.BenchmarkError` when no result has a
    published top-1."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    series = {}
    for r in results:
        if r['published_top1'] is not None:
            key = (_family(r['model']), r['dtype'], r['mode'])
            series.setdefault(key, []).append(r)
    if not series:
        raise BenchmarkError('--plot: no result has a published_top1 '
                         '(give configs that set it)')
    fig, ax = plt.subplots(figsize=(7, 4.8))
    colours = {}
    for (family, dtype, mode), rows in sorted(series.items()):
        rows = sorted(rows, key=lambda r: r['published_top1'])
        colour = colours.setdefault(family, f'C{len(colours)}')
        ax.plot([r['throughput'] for r in rows],
                [r['published_top1'] for r in rows],
                'o-' if mode == 'deploy' else 'o--', color=colour,
                alpha=1. if mode == 'deploy' else .5,
                label=f'{family} ({mode}, {dtype})')
        if mode == 'unfused' and (family, dtype, 'deploy') in series:
            continue  # name each point once
        for r in rows:
            ax.annotate(r['model'].replace('imagenet_', ''),
                        (r['throughput'], r['published_top1']),
                        textcoords='offset points', xytext=(4, 4),
                        fontsize=7)
    r0 = results[0]
    ax.set_xlabel(f"throughput (img/s; {r0['device']}, {r0['threads']} "
                  f"threads, batch {r0['batch_size']}"
                  f"{', channels_last' if r0['channels_last'] else ''})")
    ax.set_xscale('log')
    ax.set_ylabel('published ImageNet top-1 (%)')
    ax.grid(alpha=.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_results(results, path, device, warmup_secs, secs):
    """Write ``{'meta': ..., 'results': results}`` as JSON; the meta says
    torch's version, the device, threads, windows and CPU."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    meta = dict(torch=torch.__version__, device=device,
                threads=torch.get_num_threads(), warmup_secs=warmup_secs,
                secs=secs, cpu=platform.processor() or platform.machine())
    with open(path, 'w') as f:
        json.dump(dict(meta=meta, results=results), f, indent=2)
    return path


def load_results(path):
    """The results of a JSON :func:`save_results` wrote."""
    with open(path) as f:
        return json.load(f)['results']
