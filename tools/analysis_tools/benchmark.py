"""Throughput and latency of a backbone or of whole models from configs.

    # bare backbone, CPU, 2 threads, deploy (BN fused) vs unfused, vs timm
    python tools/analysis_tools/benchmark.py --backbone SHViT --arch s1 \
        --device cpu --threads 2 --deploy --channels-last --compare-timm
    # several classifiers: table, JSON, accuracy-vs-throughput plot
    python tools/analysis_tools/benchmark.py configs/imagenet_shvit_s1.py \
        configs/imagenet_shvit_s2.py --deploy --out bench.json --plot acc.png
    # the plot again from that JSON, without timing
    python tools/analysis_tools/benchmark.py --replot bench.json --plot acc.png
    # a whole detector's predict, part by part, against mmdet's own R50
    python tools/analysis_tools/benchmark.py configs/maskrcnn_shvit_s4_coco.py \
        --task --deploy --bf16 --threads 2 \
        --baseline mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py

Task mode (``--task``): each config's whole ``test_step`` (data
preprocessor, model, post-processing: box decoding, NMS, mask pasting, logit
resizing) on one random image of the config's test size (detection: the test
``Resize`` scale; segmentation: the crop; ``--shape`` overrides), with the
time of each part (backbone, neck, RPN and its convs, RoI bbox / mask
branches, decode head; "other" is the rest: data movement, post-processing)
and the peak memory of one predict run alone. Forms: as trained (fp32),
``--deploy`` (the whole model's ``switch_to_deploy``), ``--bf16`` (the
deploy form, else the model as trained, under CPU bf16 autocast with mmcv ops
and box decoding in fp32: :func:`mmhybrid.deploy.enable_bf16`).
``--baseline`` models (stock OpenMMLab configs; ``mmdet::``/``mmseg::``
paths allowed) are timed as shipped, and in bf16 with ``--bf16``. All forms
alternate every iteration in one window (ABBA), and every row gives its
speed-up (baseline latency / its latency) over each baseline form. With
random weights a detector keeps no detection (its scores stay under the
threshold), so its mask branch never runs; ``--score-thr 0`` keeps
``max_per_img`` detections per image, the load of trained weights.

Protocol (SHViT's speed test): random input, ``--warmup-secs`` of warm-up
then a time-based window of ``--secs``; every iteration is synchronised on
GPU, with cuDNN's autotuner on for every model timed. Throughput = images /
second; latency = mean (and median) wall time of one batch. ``--deploy``
times both the unfused and the deploy
(``switch_to_deploy()``: BNs folded, conv+activation and conv+residual as one
oneDNN kernel with packed weights on CPU, channels-last inside) model;
without it only the unfused one (the model as trained, in eval mode). A
model with nothing to switch is refused with ``--deploy``. With ``--compare-timm`` timm's implementation of
the same model (SHViT s1..s4; fused with its own ``fuse()`` in deploy mode)
is timed in the same process, alternating with ours every iteration (in
ABBA order, so that load changes on a shared machine hit both alike), and the
ratio ours/timm of the throughputs is printed.

Every window also alternates two plain GEMMs of 4096x512 by 512x512 (the
size of SHViT's 1x1 convs at batch 16: 4096 stride-16 tokens, 224-448
channels) in the same dtype, threads and process: ``torch.mm`` (the BLAS
PyTorch was built with, MKL) and the same product as a channels-last 1x1
:class:`~mmhybrid.deploy.FusedConv2d` (oneDNN on CPU, the library the
deploy form runs on; on x86 CPUs that are not Intel's it can be the faster
of the two). Each row reports the model's achieved rate (its mmengine FLOP
count, one multiply-add = one FLOP, times images/s) and the fraction of each
GEMM rate (counted the same way: M*K*N per product) it reaches.
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import platform
import resource
import statistics
import sys
import time
from contextlib import nullcontext

import torch

from mmhybrid.apis import (TensorForward, build_model, config_task,
                           count_complexity, load_config, test_resolution)
from mmhybrid.apis.task_timing import (PartTimer, count_predictions,
                                       predict_batch, task_input_size)
from mmhybrid.deploy import FusedConv2d
from mmhybrid.utils import switch_to_deploy


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Benchmark throughput/latency of mmhybrid models')
    p.add_argument('configs', nargs='*', help='model configs')
    p.add_argument('--backbone', help='a bare backbone instead of configs, '
                   'e.g. SHViT')
    p.add_argument('--arch', nargs='+', default=[None],
                   help='arch(s) of --backbone, e.g. s1 s2')
    p.add_argument('--shape', type=int, nargs='+', default=None,
                   help='input H [W] (default: config test resolution, '
                   'else 224)')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads (default: torch default)')
    p.add_argument('--deploy', action='store_true',
                   help='also time the fused (switch_to_deploy) model')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--compile', action='store_true', help='torch.compile')
    p.add_argument('--dtype', nargs='+', default=['fp32'],
                   choices=['fp32', 'bf16', 'fp16'],
                   help='autocast precision(s); several = one run each')
    p.add_argument('--amp', action='store_true',
                   help='shorthand: --dtype fp16 on GPU, bf16 on CPU')
    p.add_argument('--warmup-secs', type=float, default=3.)
    p.add_argument('--secs', type=float, default=10.)
    p.add_argument('--compare-timm', action='store_true')
    p.add_argument('--timm-layout', choices=['same', 'contiguous'],
                   default='same',
                   help='with --compare-timm: time timm in the same memory '
                   'format as ours, or as shipped (contiguous NCHW) while '
                   'ours uses --channels-last')
    p.add_argument('--out', help='write the results as JSON')
    p.add_argument('--plot', help='accuracy-vs-throughput PNG (configs '
                   'with published_top1)')
    p.add_argument('--replot', metavar='JSON',
                   help='redraw --plot (and reprint the table) from the JSON '
                   'of an earlier run instead of timing again')
    p.add_argument('--no-progress', action='store_true')
    task = p.add_argument_group('task mode (whole predict)')
    task.add_argument('--task', action='store_true',
                      help='time the whole test_step of each config, part '
                      'by part')
    task.add_argument('--baseline', nargs='+', default=[],
                      metavar='CONFIG_OR_mmdet::PATH',
                      help='stock model(s) timed alternately with ours')
    task.add_argument('--bf16', action='store_true',
                      help='also time the CPU bf16 form')
    task.add_argument('--score-thr', type=float, default=None,
                      help='detectors: override the test score threshold '
                      '(0: every image keeps max_per_img detections)')
    args = p.parse_args(argv)
    if args.replot:
        if not args.plot:
            p.error('--replot needs --plot PNG')
        if not osp.isfile(args.replot):
            p.error(f'--replot: no such file {args.replot}')
        return args
    if not args.configs and not args.backbone:
        p.error('give config(s) or --backbone')
    if args.configs and args.backbone:
        p.error('give config(s) or --backbone, not both')
    if args.amp:
        args.dtype = ['fp16' if args.device.startswith('cuda') else 'bf16']
    if args.shape is not None and len(args.shape) not in (1, 2):
        p.error('--shape takes H or H W')
    if (args.baseline or args.bf16 or args.score_thr is not None) and \
            not args.task:
        p.error('--baseline, --bf16 and --score-thr need --task')
    if args.task and (args.backbone or not args.configs):
        p.error('--task times configs (not --backbone)')
    if args.task and args.plot:
        p.error('--plot is for classifier throughput, not --task')
    if args.bf16 and args.device != 'cpu':
        p.error('--bf16 is a CPU mode (use --amp on GPU)')
    return args


DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class Timed:
    """One model under test: a callable on a fixed input, with its clock."""

    def __init__(self, name, impl, mode, fn, x, device, dtype):
        self.name, self.impl, self.mode = name, impl, mode
        self.fn, self.x, self.device, self.dtype = fn, x, device, dtype
        self.times = []

    def _ctx(self):
        if self.dtype == 'fp32':
            return nullcontext()
        return torch.autocast(self.device.type, dtype=DTYPES[self.dtype])

    def step(self, record):
        """One synchronised iteration; returns its end time."""
        with torch.inference_mode(), self._ctx():
            t0 = time.perf_counter()
            self.fn(self.x)
            _sync(self.device)
            t1 = time.perf_counter()
        if record:
            self.times.append(t1 - t0)
        return t1


def run_window(timed, secs, record):
    """Iterate the models under test for ``secs`` seconds (each at least
    once). Several models alternate every iteration, in ABBA order."""
    start = time.perf_counter()
    order = list(timed)
    while True:
        for t in order:
            end = t.step(record)
        order.reverse()
        if end - start >= secs:
            break


def _prepare(module, args, device, mode):
    module = module.to(device).eval()
    if mode == 'deploy':
        if hasattr(module, 'fuse') and not hasattr(module,
                                                   'switch_to_deploy'):
            module.fuse()  # timm's SHViT
        else:
            switch_to_deploy(module)
    if args.channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module


GEMM_MKN = (4096, 512, 512)


def _gemms(device, dtype):
    """``{kind: Timed}``: the GEMM ``GEMM_MKN`` as ``torch.mm`` and as a
    channels-last 1x1 :class:`FusedConv2d` (M = batch 16 x 16 x 16)."""
    m, k, n = GEMM_MKN
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    conv = FusedConv2d(k, n, 1, bias=False).to(
        device, memory_format=torch.channels_last).eval()
    x = torch.randn(m // 256, k, 16, 16, device=device).contiguous(
        memory_format=torch.channels_last)
    return dict(
        mm=Timed('gemm', 'mm', 'gemm', lambda a: torch.mm(a, b), a, device,
                 dtype),
        conv1x1=Timed('gemm', 'conv1x1', 'gemm', conv, x, device, dtype))


def _reset_peak_memory(device):
    """Start a new peak-memory window; returns how the peak is measured."""
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        return 'cuda_max_allocated'
    try:  # Linux: reset the process high-water mark (VmHWM)
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return 'cpu_process_peak_rss'
    except OSError:
        return 'cpu_process_max_rss_since_start'


def _peak_memory_mb(device, kind):
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    if kind == 'cpu_process_peak_rss':
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 2**10
    # peak resident set size of this process since it started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if platform.system() == 'Darwin' else 2**10)


def _summary(t, batch):
    n = len(t.times)
    total = sum(t.times)
    return dict(
        iters=n,
        time_s=round(total, 4),
        throughput=batch * n / total if total else 0.,
        latency_ms=1000 * total / n if n else 0.,
        latency_median_ms=1000 * statistics.median(t.times) if n else 0.)


def build_targets(args):
    """[(name, model, task, shape, top1)] from the configs or backbone."""
    targets = []
    if args.backbone:
        for arch in args.arch:
            name = args.backbone + (f'-{arch}' if arch else '')
            model = build_model(backbone=args.backbone, arch=arch)
            h = args.shape or [224]
            targets.append((name, model, None, (h[0], h[-1]), None))
    for cfg_path in args.configs:
        cfg = load_config(cfg_path)
        model, task = build_model(cfg), config_task(cfg)
        if args.shape:
            hw = (args.shape[0], args.shape[-1])
        else:
            try:
                r = test_resolution(cfg)
            except Exception:  # noqa: BLE001  (dense configs: give --shape)
                r = 224
            hw = (r, r)
        name = osp.splitext(osp.basename(cfg_path))[0]
        targets.append((name, model, task, hw, cfg.get('published_top1')))
    return targets


def _timm_model(model, task):
    """timm's model of the same name as ours (its backbone's
    ``timm_counterpart()``), or None."""
    counterpart = getattr(getattr(model, 'backbone', model),
                          'timm_counterpart', None)
    name = counterpart() if callable(counterpart) else None
    if name is None:
        return None, None, None
    import timm
    if task is None:  # bare backbone: features only, same compute
        m = timm.create_model(name, pretrained=False)
        return name, m, 'features'
    num_classes = model.head.num_classes
    return name, timm.create_model(name, pretrained=False,
                                   num_classes=num_classes), 'logits'


def _setup_device(args):
    """The device, with the CPU thread count or cuDNN's autotuner set."""
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    return device


def benchmark(args):
    device = _setup_device(args)
    targets = build_targets(args)
    for name, model, *_ in targets if args.deploy else ():
        if not switch_to_deploy(copy.deepcopy(model)):
            raise SystemExit(
                f'--deploy: {name} has no deploy form (no backbone, neck or '
                'head with convolutions or BatchNorms); drop --deploy to time '
                'it as trained')
    modes = ['unfused', 'deploy'] if args.deploy else ['unfused']
    jobs = []  # (target, dtype, mode)
    for tgt in targets:
        for dtype in args.dtype:
            for mode in modes:
                jobs.append((tgt, dtype, mode))
    bar = None
    if not args.no_progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(jobs), file=sys.stderr)
    flops = {name: count_complexity(model, (3, *hw))[1]
             for name, model, task, hw, _ in targets}
    results = []
    for (name, model, task, hw, top1), dtype, mode in jobs:
        x = torch.randn(args.batch_size, 3, *hw, device=device)
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        ours = _prepare(copy.deepcopy(model), args, device, mode)
        fn = TensorForward(ours)
        if args.compile:
            fn = torch.compile(fn)
        under_test = [Timed(name, 'mmhybrid', mode, fn, x, device, dtype)]
        timm_name = None
        if args.compare_timm:
            timm_name, tm, kind = _timm_model(model, task)
            if tm is not None:
                tx = x
                targs = args
                if args.timm_layout == 'contiguous':
                    targs = argparse.Namespace(**vars(args))
                    targs.channels_last = False
                    tx = x.contiguous()
                tm = _prepare(tm, targs, device, mode)
                tfn = tm.forward_features if kind == 'features' else tm
                if args.compile:
                    tfn = torch.compile(tfn)
                under_test.append(
                    Timed(name, f'timm:{timm_name}', mode, tfn, tx, device,
                          dtype))
        gemms = _gemms(device, dtype)
        # ours first, timm last, the GEMMs between: in ABBA order each model
        # then runs twice in a row as often as the other
        order = under_test[:1] + list(gemms.values()) + under_test[1:]
        run_window(order, args.warmup_secs, record=False)
        # after the warm-up: cuDNN's autotuner trials allocate workspaces
        # the model never uses again
        mem_kind = _reset_peak_memory(device)
        run_window(order, args.secs, record=True)
        peak = _peak_memory_mb(device, mem_kind)
        row = dict(model=name, mode=mode, dtype=dtype,
                   batch_size=args.batch_size, shape=list(hw),
                   device=str(device), threads=torch.get_num_threads(),
                   channels_last=args.channels_last, compile=args.compile,
                   published_top1=top1, peak_memory_mb=round(peak, 1),
                   peak_memory_kind=mem_kind)
        row.update(_summary(under_test[0], args.batch_size))
        row['flops'] = flops[name]
        row['gflops_per_s'] = flops[name] * row['throughput'] / 1e9
        row['gemm'] = dict(mkn=list(GEMM_MKN))
        row['gemm_fraction'] = {}
        for gemm_kind, t in gemms.items():
            rate = math.prod(GEMM_MKN) * len(t.times) / sum(t.times) / 1e9
            row["gemm"][f"{gemm_kind}_gflops_per_s"] = rate
            row["gemm_fraction"][gemm_kind] = row['gflops_per_s'] / rate
        if len(under_test) > 1:
            tt = _summary(under_test[1], args.batch_size)
            row['timm'] = dict(
                model=timm_name, channels_last=(
                    args.channels_last and args.timm_layout == 'same'), **tt)
            row['ratio_vs_timm'] = row['throughput'] / tt['throughput']
        results.append(row)
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stderr.write('\n')
    return results


def _task_config(path, score_thr):
    if '::' in path:  # a stock config of an installed OpenMMLab package
        from mmengine.hub import get_config
        cfg = load_config(get_config(path))
    else:
        cfg = load_config(path)
    if score_thr is not None:
        tc = cfg.model.get('test_cfg') or {}
        stages = [tc[k] for k in ('rcnn', 'rpn') if k in tc] or [tc]
        hits = [st for st in stages if 'score_thr' in st]
        if not hits:
            raise SystemExit(f'--score-thr: {path} has no test score_thr')
        hits[0]['score_thr'] = score_thr
    return cfg


def _task_forms(args):
    """``[(role, config path, mode, dtype)]`` in timing order."""
    forms = []
    for path in args.configs:
        modes = ['unfused', 'deploy'] if args.deploy else ['unfused']
        forms += [('ours', path, m, 'fp32') for m in modes]
        if args.bf16:
            forms.append(('ours', path, modes[-1], 'bf16'))
    for path in args.baseline:
        forms.append(('baseline', path, 'unfused', 'fp32'))
        if args.bf16:
            forms.append(('baseline', path, 'unfused', 'bf16'))
    return forms


def _form_name(row):
    return row['mode'] + ('' if row['dtype'] == 'fp32' else ' + bf16')


class TimedPredict:
    """One form of one model: its whole ``test_step`` on a fixed batch, with
    a clock per part (:class:`~mmhybrid.apis.task_timing.PartTimer`)."""

    def __init__(self, role, path, mode, dtype, args, device, shape):
        self.role, self.path, self.mode, self.dtype = role, path, mode, dtype
        self.name = osp.splitext(osp.basename(path.split('::')[-1]))[0]
        cfg = _task_config(path, args.score_thr)
        self.task = config_task(cfg)
        model = build_model(cfg, device=str(device))
        self.switched = switch_to_deploy(model) if mode == 'deploy' else []
        self.ctx = nullcontext
        if dtype == 'bf16':
            from mmhybrid.deploy import bf16_autocast, enable_bf16
            enable_bf16(model)
            self.ctx = bf16_autocast
        self.hw = shape or task_input_size(cfg, self.task)
        self.batch = predict_batch(self.task, self.hw, device)
        self.model, self.device = model, device
        self.parts = PartTimer(model, device).__enter__()
        self.times, self.dets = [], None

    def step(self, record):
        self.parts.recording = record
        with torch.inference_mode(), self.ctx():
            t0 = time.perf_counter()
            out = self.model.test_step(self.batch)
            _sync(self.device)
            t1 = time.perf_counter()
        if record:
            self.times.append(t1 - t0)
        self.dets = count_predictions(out)
        return t1

    def peak_memory(self):
        """Peak memory (MB) of one predict run alone, and how measured."""
        kind = _reset_peak_memory(self.device)
        self.step(record=False)
        return _peak_memory_mb(self.device, kind), kind

    def row(self):
        n = len(self.times)
        return dict(model=self.name, config=self.path, role=self.role,
                    mode=self.mode, dtype=self.dtype, task=self.task,
                    shape=list(self.hw), iters=n,
                    latency_ms=1000 * sum(self.times) / n,
                    latency_median_ms=1000 * statistics.median(self.times),
                    parts_ms=self.parts.mean_ms(n),
                    detections=self.dets)


def benchmark_task(args):
    """Rows of the task mode, one per form (see the module docstring)."""
    device = _setup_device(args)
    shape = (args.shape[0], args.shape[-1]) if args.shape else None
    forms = _task_forms(args)
    bar = None
    if not args.no_progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(forms), file=sys.stderr)
    timed = []
    for form in forms:
        timed.append(TimedPredict(*form, args, device, shape))
        if timed[-1].mode == 'deploy' and not timed[-1].switched:
            raise SystemExit(f'--deploy: {timed[-1].name} has no deploy '
                             'form; drop --deploy to time it as trained')
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stderr.write('\n')
    run_window(timed, args.warmup_secs, record=False)
    # one predict each, alone, once warm (cuDNN's autotuner trials are over)
    peaks = [t.peak_memory() for t in timed]
    run_window(timed, args.secs, record=True)
    rows = []
    for t, (peak, kind) in zip(timed, peaks):
        row = t.row()
        row.update(threads=torch.get_num_threads(), device=str(device),
                   peak_memory_mb=round(peak, 1), peak_memory_kind=kind)
        rows.append(row)
    for row in rows:  # latency of each baseline form / ours
        row['speedup'] = {
            f"{b['model']} {_form_name(b)}":
            b['latency_ms'] / row['latency_ms']
            for b in rows if b['role'] == 'baseline'}
    return rows


def task_table(rows):
    """Latency per form (with the speed-up over every baseline form), then
    the per-part breakdown in ms per image."""
    bases = [f"{b['model']} {_form_name(b)}" for b in rows
             if b['role'] == 'baseline']
    head = ('| model | form | input | predict ms (median) | peak MB | dets |'
            + ''.join(f' vs {b} |' for b in bases))
    lines = [head, '|' + '---|' * (head.count('|') - 1)]
    for r in rows:
        dets = '-' if r['detections'] is None else r['detections']
        lines.append(
            f"| {r['model']} | {_form_name(r)} | "
            f"{r['shape'][0]}x{r['shape'][1]} | {r['latency_ms']:.0f} "
            f"({r['latency_median_ms']:.0f}) | {r['peak_memory_mb']:.0f} | "
            f'{dets} |' + ''.join(f" {r['speedup'][b]:.2f}x |"
                                  for b in bases))
    labels = []
    for r in rows:
        labels += [k for k in r['parts_ms'] if k not in labels]
    cols = [f"{r['model']} {_form_name(r)}" for r in rows]
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


def table(results):
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


def _family(model_name):
    """'imagenet_shvit_s1' -> 'shvit' (configs of one family share a line)."""
    name = model_name.replace('imagenet_', '')
    return name.rsplit('_', 1)[0] if '_' in name else name


def plot(results, path):
    """Published top-1 vs throughput (log scale): one line per model family
    and (dtype, mode); colour = family, dashed = unfused."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    series = {}
    for r in results:
        if r['published_top1'] is not None:
            key = (_family(r['model']), r['dtype'], r['mode'])
            series.setdefault(key, []).append(r)
    if not series:
        raise SystemExit('--plot: no result has a published_top1 '
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


def main(argv=None):
    args = parse_args(argv)
    if args.replot:
        with open(args.replot) as f:
            results = json.load(f)['results']
        print(table(results))
        plot(results, args.plot)
        print(f'wrote {args.plot}')
        return
    if args.task:
        results = benchmark_task(args)
        print(task_table(results))
    else:
        results = benchmark(args)
        print(table(results))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        meta = dict(torch=torch.__version__, device=args.device,
                    threads=torch.get_num_threads(),
                    warmup_secs=args.warmup_secs, secs=args.secs,
                    cpu=platform.processor() or platform.machine())
        with open(args.out, 'w') as f:
            json.dump(dict(meta=meta, results=results), f, indent=2)
        print(f'wrote {args.out}')
    if args.plot:
        plot(results, args.plot)
        print(f'wrote {args.plot}')
    return results


if __name__ == '__main__':
    main()
