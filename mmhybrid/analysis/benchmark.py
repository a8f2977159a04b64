"""Throughput and latency of backbones and classifiers (with the GEMM
roofline and timm's same model), and the whole predict of task models part
by part (task mode). ``tools/analysis_tools/benchmark.py`` is the command
line over these functions; its docstring states the protocol."""
import copy
import os.path as osp
import sys
import time
from contextlib import nullcontext

import torch

from mmhybrid.apis import (TensorForward, build_model, config_task,
                           count_complexity, load_config, test_resolution)
from mmhybrid.apis.task_timing import (PartTimer, count_predictions,
                                       predict_batch, task_input_size)
from mmhybrid.deploy import switch_to_deploy

from .timing import (GEMM_MKN, Timed, gemm_rate, gemm_timers,
                     peak_memory_mb, reset_peak_memory, run_window,
                     setup_device, summarize_times, sync)

__all__ = ['BenchmarkError', 'build_targets', 'prepare_model', 'timm_model',
           'benchmark_models', 'task_config', 'task_forms', 'form_name',
           'TimedPredict', 'benchmark_task']


class BenchmarkError(ValueError):
    """A benchmark that cannot run as asked; the message says why."""


def _hw(shape):
    return None if not shape else (shape[0], shape[-1])


def build_targets(configs=(), backbone=None, archs=(None, ), shape=None):
    """``[(name, model, task, (h, w), published_top1)]`` for the configs, or
    for each arch of a bare ``backbone`` type. The input size is ``shape``
    (H or H, W), else the config's test resolution, else 224."""
    targets = []
    if backbone:
        for arch in archs:
            name = backbone + (f'-{arch}' if arch else '')
            model = build_model(backbone=backbone, arch=arch)
            h = shape or [224]
            targets.append((name, model, None, (h[0], h[-1]), None))
    for cfg_path in configs:
        cfg = load_config(cfg_path)
        model, task = build_model(cfg), config_task(cfg)
        hw = _hw(shape)
        if hw is None:
            try:
                r = test_resolution(cfg)
            except Exception:  # noqa: BLE001  (dense configs: give shape)
                r = 224
            hw = (r, r)
        name = osp.splitext(osp.basename(cfg_path))[0]
        targets.append((name, model, task, hw, cfg.get('published_top1')))
    return targets


def prepare_model(module, device, mode, channels_last=False):
    """The model in eval mode on ``device``; ``mode='deploy'``: switched to
    its deploy form (timm's SHViT: its own ``fuse()``)."""
    module = module.to(device).eval()
    if mode == 'deploy':
        if hasattr(module, 'fuse') and not hasattr(module,
                                                   'switch_to_deploy'):
            module.fuse()  # timm's SHViT
        else:
            switch_to_deploy(module)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module


def timm_model(model, task):
    """``(name, model, kind)``: timm's model of the same name as ours (its
    backbone's ``timm_counterpart()``), with ``kind`` 'features' (bare
    backbone) or 'logits'; ``(None, None, None)`` without one."""
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


def _progress(total, show):
    if not show:
        return None
    from mmengine.utils import ProgressBar
    return ProgressBar(total, file=sys.stderr)


def _done(bar):
    if bar is not None:
        sys.stderr.write('\n')


def benchmark_models(targets, device='cpu', threads=None, batch_size=16,
                     deploy=False, channels_last=False, compile=False,
                     dtypes=('fp32', ), warmup_secs=3., secs=10.,
                     compare_timm=False, timm_layout='same', progress=True):
    """One result dict per (target, dtype, mode) of :func:`build_targets`'s
    ``targets``: throughput, latency, peak memory, FLOP rate and its
    fraction of each GEMM rate, and with ``compare_timm`` timm's throughput
    and the ratio ours / timm. ``deploy`` times the deploy form after the
    model as trained ('unfused'); ``timm_layout='contiguous'`` times timm
    in NCHW while ours runs channels-last."""
    device = setup_device(device, threads)
    for name, model, *_ in targets if deploy else ():
        if not switch_to_deploy(copy.deepcopy(model)):
            raise BenchmarkError(
                f'--deploy: {name} has no deploy form (no backbone, neck or '
                'head with convolutions or BatchNorms); drop --deploy to time '
                'it as trained')
    modes = ['unfused', 'deploy'] if deploy else ['unfused']
    jobs = [(tgt, dtype, mode) for tgt in targets for dtype in dtypes
            for mode in modes]
    bar = _progress(len(jobs), progress)
    flops = {name: count_complexity(model, (3, *hw))[1]
             for name, model, task, hw, _ in targets}
    results = []
    for (name, model, task, hw, top1), dtype, mode in jobs:
        x = torch.randn(batch_size, 3, *hw, device=device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        ours = prepare_model(copy.deepcopy(model), device, mode,
                             channels_last)
        fn = TensorForward(ours)
        if compile:
            fn = torch.compile(fn)
        under_test = [Timed(name, 'mmhybrid', mode, fn, x, device, dtype)]
        timm_name = None
        if compare_timm:
            timm_name, tm, kind = timm_model(model, task)
            if tm is not None:
                same = timm_layout == 'same'
                tx = x if same else x.contiguous()
                tm = prepare_model(tm, device, mode, channels_last and same)
                tfn = tm.forward_features if kind == 'features' else tm
                if compile:
                    tfn = torch.compile(tfn)
                under_test.append(
                    Timed(name, f'timm:{timm_name}', mode, tfn, tx, device,
                          dtype))
        gemms = gemm_timers(device, dtype)
        # ours first, timm last, the GEMMs between: in ABBA order each model
        # then runs twice in a row as often as the other
        order = under_test[:1] + list(gemms.values()) + under_test[1:]
        run_window(order, warmup_secs, record=False)
        # after the warm-up: cuDNN's autotuner trials allocate workspaces
        # the model never uses again
        mem_kind = reset_peak_memory(device)
        run_window(order, secs, record=True)
        peak = peak_memory_mb(device, mem_kind)
        row = dict(model=name, mode=mode, dtype=dtype,
                   batch_size=batch_size, shape=list(hw),
                   device=str(device), threads=torch.get_num_threads(),
                   channels_last=channels_last, compile=compile,
                   published_top1=top1, peak_memory_mb=round(peak, 1),
                   peak_memory_kind=mem_kind)
        row.update(summarize_times(under_test[0].times, batch_size))
        row['flops'] = flops[name]
        row['gflops_per_s'] = flops[name] * row['throughput'] / 1e9
        row['gemm'] = dict(mkn=list(GEMM_MKN))
        row['gemm_fraction'] = {}
        for gemm_kind, t in gemms.items():
            rate = gemm_rate(t)
            row['gemm'][f'{gemm_kind}_gflops_per_s'] = rate
            row['gemm_fraction'][gemm_kind] = row['gflops_per_s'] / rate
        if len(under_test) > 1:
            tt = summarize_times(under_test[1].times, batch_size)
            row['timm'] = dict(
                model=timm_name,
                channels_last=(channels_last and timm_layout == 'same'),
                **tt)
            row['ratio_vs_timm'] = row['throughput'] / tt['throughput']
        results.append(row)
        if bar is not None:
            bar.update()
    _done(bar)
    return results


# ------------------------------------------------------------ task mode --
def task_config(path, score_thr=None):
    """The config of ``path`` (``mmdet::``/``mmseg::`` paths: a stock config
    of an installed OpenMMLab package), with the detector's first test
    ``score_thr`` (RoI head, else RPN, else the head's) set to
    ``score_thr``."""
    if '::' in path:
        from mmengine.hub import get_config
        cfg = load_config(get_config(path))
    else:
        cfg = load_config(path)
    if score_thr is not None:
        tc = cfg.model.get('test_cfg') or {}
        stages = [tc[k] for k in ('rcnn', 'rpn') if k in tc] or [tc]
        hits = [st for st in stages if 'score_thr' in st]
        if not hits:
            raise BenchmarkError(f'--score-thr: {path} has no test score_thr')
        hits[0]['score_thr'] = score_thr
    return cfg


def task_forms(configs, baselines=(), deploy=False, bf16=False,
               compile=False):
    """``[(role, config path, mode, dtype)]`` in timing order: each of ours
    as trained (and deployed, and in bf16, and its last form under
    ``torch.compile``: mode ``'... + compile'``), then each baseline as
    shipped (and in bf16)."""
    forms = []
    for path in configs:
        modes = ['unfused', 'deploy'] if deploy else ['unfused']
        forms += [('ours', path, m, 'fp32') for m in modes]
        if bf16:
            forms.append(('ours', path, modes[-1], 'bf16'))
        if compile:
            forms.append(('ours', path, modes[-1] + ' + compile',
                          'bf16' if bf16 else 'fp32'))
    for path in baselines:
        forms.append(('baseline', path, 'unfused', 'fp32'))
        if bf16:
            forms.append(('baseline', path, 'unfused', 'bf16'))
    return forms


def form_name(row):
    """'unfused', 'deploy', 'deploy + bf16', ... of a task row."""
    return row['mode'] + ('' if row['dtype'] == 'fp32' else ' + bf16')


class TimedPredict:
    """One form of one model: its whole ``test_step`` on a fixed batch, with
    a clock per part (:class:`~mmhybrid.apis.task_timing.PartTimer`)."""

    def __init__(self, role, path, mode, dtype, device, shape=None,
                 score_thr=None, batch_size=1, compile_backend='inductor'):
        self.role, self.path, self.mode, self.dtype = role, path, mode, dtype
        self.name = osp.splitext(osp.basename(path.split('::')[-1]))[0]
        cfg = task_config(path, score_thr)
        self.task = config_task(cfg)
        model = build_model(cfg, device=str(device))
        base_mode = mode.split(' + ')[0]
        self.switched = switch_to_deploy(model) if base_mode == 'deploy' \
            else []
        self.ctx = nullcontext
        if dtype == 'bf16':
            from mmhybrid.deploy import bf16_autocast, enable_bf16
            enable_bf16(model)
            self.ctx = bf16_autocast
        #: the :class:`~mmhybrid.deploy.Compiled` of a '+ compile' form
        self.compiled = None
        if mode.endswith(' + compile'):
            from mmhybrid.deploy import compile_model
            self.compiled = compile_model(model, backend=compile_backend)
        self.hw = shape or task_input_size(cfg, self.task)
        self.batch_size = int(batch_size)
        self.batch = predict_batch(self.task, self.hw, device,
                                   num_images=self.batch_size)
        self.model, self.device = model, device
        self.parts = PartTimer(model, device).__enter__()
        self.times, self.dets = [], None

    def step(self, record):
        self.parts.recording = record
        with torch.inference_mode(), self.ctx():
            t0 = time.perf_counter()
            out = self.model.test_step(self.batch)
            sync(self.device)
            t1 = time.perf_counter()
        if record:
            self.times.append(t1 - t0)
        self.dets = count_predictions(out)
        return t1

    def peak_memory(self):
        """Peak memory (MB) of one predict run alone, and how measured."""
        kind = reset_peak_memory(self.device)
        self.step(record=False)
        return peak_memory_mb(self.device, kind), kind

    def row(self):
        n = len(self.times)
        s = summarize_times(self.times, self.batch_size)
        return dict(model=self.name, config=self.path, role=self.role,
                    mode=self.mode, dtype=self.dtype, task=self.task,
                    shape=list(self.hw), iters=n, batch=self.batch_size,
                    compiled=self.compiled.form() if self.compiled else None,
                    throughput=s['throughput'],
                    latency_ms=s['latency_ms'],
                    latency_median_ms=s['latency_median_ms'],
                    parts_ms=self.parts.mean_ms(n),
                    detections=self.dets)


def benchmark_task(configs, baselines=(), deploy=False, bf16=False,
                   score_thr=None, shape=None, device='cpu', threads=None,
                   warmup_secs=3., secs=10., progress=True, batch_size=1,
                   compile=False):
    """One row per form of :func:`task_forms`: the whole ``test_step`` on
    ``batch_size`` random images of the config's test size (``shape``: H or
    H, W instead), all forms alternating in one window, with per-part times,
    the peak memory of one predict alone and the speed-up (baseline latency
    / its latency) over every baseline form. ``compile``: also time ours'
    last form under ``torch.compile`` of backbone and neck (True: inductor;
    a string: that backend, e.g. ``'eager'`` in tests); the row's
    ``compiled`` says what ran compiled and any fallback to eager."""
    device = setup_device(device, threads)
    forms = task_forms(configs, baselines, deploy, bf16, compile)
    bar = _progress(len(forms), progress)
    timed = []
    for form in forms:
        timed.append(TimedPredict(
            *form, device, _hw(shape), score_thr, batch_size,
            compile if isinstance(compile, str) else 'inductor'))
        if timed[-1].mode == 'deploy' and not timed[-1].switched:
            raise BenchmarkError(f'--deploy: {timed[-1].name} has no deploy '
                                 'form; drop --deploy to time it as trained')
        if bar is not None:
            bar.update()
    _done(bar)
    run_window(timed, warmup_secs, record=False)
    # one predict each, alone, once warm (cuDNN's autotuner trials are over)
    peaks = [t.peak_memory() for t in timed]
    run_window(timed, secs, record=True)
    rows = []
    for t, (peak, kind) in zip(timed, peaks):
        row = t.row()
        row.update(threads=torch.get_num_threads(), device=str(device),
                   peak_memory_mb=round(peak, 1), peak_memory_kind=kind)
        rows.append(row)
    for row in rows:  # latency of each baseline form / ours
        row['speedup'] = {
            f"{b['model']} {form_name(b)}":
            b['latency_ms'] / row['latency_ms']
            for b in rows if b['role'] == 'baseline'}
    return rows
