"""The training step of whole models from configs, timed (train mode of
``tools/analysis_tools/benchmark.py CONFIG --train``).

One iteration is what mmengine's train loop runs per batch:
``model.train_step(batch, optim_wrapper)`` - the data preprocessor (the
batch's move to the device included), forward, losses, backward and the
optimizer step of the :class:`~mmengine.optim.OptimWrapper` built from the
config's ``optim_wrapper`` (its clipping and accumulation kept; with ``amp``
its mixed-precision counterpart, :func:`mmhybrid.engine.amp_wrapper_type`).
The batch is synthetic: random uint8 images of the config's train size and
its per-GPU batch (``train_dataloader.batch_size``), with the ground truth a
dataloader packs (detectors: boxes and labels, and masks for a model with a
mask head; segmentors: a seg map; classifiers: labels).

The learning rate is the one of the Runner's first iteration (the config's
warm-up start factor applied: random weights at the full rate can diverge
within a long window); a row gives that factor and counts the non-finite
losses of its steps.

Peak memory is the model's own, so that models sharing one process do not
count each other: its state (parameters, buffers, gradients kept between
steps, optimizer state) plus the peak of the tensor memory one step
allocates above what was allocated when it started, measured on one step
run alone after the warm-up. CUDA: ``torch.cuda.max_memory_allocated``
against ``memory_allocated`` at the step's start; CPU: the allocations the
PyTorch profiler records during the step (tensor bytes, as CUDA counts them;
not the process RSS, which holds every model of the process and the
allocator's cache).
"""
import copy
import logging
import os.path as osp
import time

import numpy as np
import torch

from mmhybrid.apis import build_model, config_task
from mmhybrid.apis.task_timing import predict_batch

from .benchmark import BenchmarkError, _done, _hw, _progress, task_config
from .timing import run_window, setup_device, summarize_times, sync

__all__ = ['train_input_size', 'train_batch', 'TimedTrainStep',
           'benchmark_train', 'run_iters', 'PEAK_MEMORY_KINDS']

# what each ``peak_memory_kind`` of a row measured (printed under the table)
PEAK_MEMORY_KINDS = {
    'cuda_allocated': 'model state + the step\'s peak of '
    'torch.cuda.max_memory_allocated above its start',
    'cpu_profiler_allocated': 'model state + the step\'s peak of tensor '
    'allocations recorded by the PyTorch profiler (CPU allocator bytes, '
    'not process RSS)',
}


def _error(msg):
    return BenchmarkError(msg)


# ----------------------------------------------------------- the inputs --
def _flat(transforms):
    """Transforms of a pipeline, the members of ``RandomChoice`` /
    ``Compose`` style wrappers included, in order."""
    for t in transforms or ():
        if isinstance(t, (list, tuple)):
            yield from _flat(t)
            continue
        yield t
        for key in ('transforms', 'transform'):
            sub = t.get(key)
            if isinstance(sub, dict):
                sub = [sub]
            if isinstance(sub, (list, tuple)):
                yield from _flat(sub)


def _train_pipeline(cfg):
    loader = cfg.get('train_dataloader')
    if not loader:
        raise _error(f'{cfg.filename}: no train_dataloader (--train times '
                     'the training step of a config that trains)')
    ds = loader.get('dataset')
    while isinstance(ds, dict) and 'pipeline' not in ds:
        ds = ds.get('dataset')
    return list(_flat((ds or {}).get('pipeline')))


def _pair(v, wh):
    """``(H, W)`` of a size written as an int, or a pair in (W, H) order
    (mmdet/mmseg ``scale``) when ``wh`` else (H, W)."""
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    return (v[1], v[0]) if wh else v


def train_input_size(cfg, task):
    """``(H, W)`` of the largest image the config's train pipeline gives its
    model. Detection: the largest ``Resize``/``RandomChoiceResize`` scale
    (mmdet writes it (W, H); a keep-ratio resize fits the image inside it);
    segmentation: the data preprocessor's ``size``, else the crop, else the
    resize scale (short, long side); the last
    crop/resize size of a classifier's pipeline."""
    pipeline = _train_pipeline(cfg)
    if task == 'segmentation':
        size = cfg.model.get('data_preprocessor', {}).get('size')
        if size:
            return tuple(size)
        crops = [t['crop_size'] for t in pipeline if 'crop_size' in t]
        if crops:
            return _pair(crops[-1], wh=False)
        scales = [t['scale'] for t in pipeline if t.get('scale')]
        if scales:  # a keep-ratio resize without a crop: its short side
            v = scales[-1]
            return (v, v) if isinstance(v, int) else (min(v), max(v))
    elif task == 'detection':
        sizes = []
        for t in pipeline:
            if t.get('scale') is not None:
                sizes.append(_pair(t['scale'], wh=True))
            sizes += [_pair(s, wh=True) for s in t.get('scales') or ()]
        if sizes:
            return max(sizes, key=lambda hw: hw[0] * hw[1])
    else:
        sizes = [_pair(t[k], wh=False) for t in pipeline
                 if any(w in str(t.get('type', '')).lower()
                        for w in ('resize', 'crop'))
                 for k in ('crop_size', 'scale', 'size')
                 if isinstance(t.get(k), (int, list, tuple))]
        if sizes:
            return sizes[-1]
    raise _error(f'{cfg.filename}: cannot tell the train input size from its '
                 'train pipeline; give --shape H W')


def _num_classes(node, skip=('rpn_head', )):
    """The smallest ``num_classes`` in a model config (the RPN's one class
    left out), else None."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == 'num_classes' and isinstance(v, int):
                found.append(v)
            elif k not in skip:
                n = _num_classes(v, skip)
                if n is not None:
                    found.append(n)
    elif isinstance(node, (list, tuple)):
        found += [n for n in map(_num_classes, node) if n is not None]
    return min(found) if found else None


def _has_mask_head(model):
    return bool(getattr(getattr(model, 'roi_head', None), 'with_mask', False)
                or getattr(model, 'with_mask', False))


def train_batch(model, task, hw, batch_size, num_classes=1, seed=0,
                num_boxes=3):
    """A train batch as a dataloader packs it (on the CPU, as a dataloader
    yields it): ``batch_size`` random uint8 images of size ``hw`` with their
    ground truth. Detection: ``num_boxes`` random boxes with labels (and box
    masks when ``model`` has a mask head); segmentation: a random seg map;
    classification: a label. Labels are below ``num_classes``."""
    g = torch.Generator().manual_seed(seed)
    h, w = hw
    batch = dict(inputs=[], data_samples=[])
    for i in range(batch_size):
        one = predict_batch(task, hw, 'cpu', seed=seed + i)
        img, sample = one['inputs'][0], one['data_samples'][0]
        labels = torch.randint(0, num_classes, (num_boxes, ), generator=g)
        if task == 'detection':
            from mmdet.structures.bbox import HorizontalBoxes
            from mmdet.structures.mask import BitmapMasks
            from mmengine.structures import InstanceData
            sample.set_metainfo(dict(flip=False, flip_direction=None))
            xy = torch.rand(num_boxes, 2, generator=g) * torch.tensor(
                [w * .6, h * .6])
            wh = (torch.rand(num_boxes, 2, generator=g) * .3 + .1) * \
                torch.tensor([w, h])
            boxes = torch.cat([xy, (xy + wh).clamp(max=torch.tensor(
                [w - 1., h - 1.]))], 1)
            gt = InstanceData(bboxes=HorizontalBoxes(boxes), labels=labels)
            if _has_mask_head(model):
                masks = np.zeros((num_boxes, h, w), np.uint8)
                for m, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist()):
                    m[y0:y1 + 1, x0:x1 + 1] = 1
                gt.masks = BitmapMasks(masks, h, w)
            sample.gt_instances = gt
            sample.ignored_instances = InstanceData(
                bboxes=HorizontalBoxes(torch.zeros(0, 4)),
                labels=torch.zeros(0, dtype=torch.long))
        elif task == 'segmentation':
            from mmengine.structures import PixelData
            sample.gt_sem_seg = PixelData(data=torch.randint(
                0, num_classes, (1, h, w), generator=g))
        else:
            sample.set_gt_label(int(labels[0]))
        batch['inputs'].append(img)
        batch['data_samples'].append(sample)
    return batch


# ------------------------------------------------------------- the step --
def _state_bytes(model, optim_wrapper):
    """Bytes of what a model keeps between steps: parameters, buffers,
    gradients still held, optimizer state (each storage once)."""
    seen, total = set(), 0

    def add(t):
        nonlocal total
        if torch.is_tensor(t) and t.numel():
            key = (t.device, t.untyped_storage().data_ptr())
            if key not in seen:
                seen.add(key)
                total += t.untyped_storage().nbytes()

    for p in model.parameters():
        add(p)
        add(p.grad)
    for b in model.buffers():
        add(b)
    for state in optim_wrapper.optimizer.state.values():
        for v in state.values():
            add(v)
    return total


def _profiled_peak(fn):
    """Run ``fn()`` under the PyTorch profiler; the peak of its CPU tensor
    allocations above the start (bytes)."""
    from torch.autograd.profiler_util import MEMORY_EVENT_NAME
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) \
            as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == MEMORY_EVENT_NAME and
              str(e.device_type()).upper().endswith('CPU')]
    if not events:
        raise _error('the PyTorch profiler recorded no CPU allocation; '
                     'cannot measure the peak memory of a training step')
    cur = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        cur += e.nbytes()
        peak = max(peak, cur)
    return peak


def _warmup_factor(cfg):
    """The factor of the config's learning rate at its first iteration: a
    ``LinearLR``'s ``start_factor`` or a ``ConstantLR``'s ``factor`` that
    begins at 0 (mmengine's defaults: 1/3), else 1."""
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for sch in schedulers:
        kind = str(sch.get('type', '')).split('.')[-1]
        if sch.get('begin', 0) != 0:
            continue
        if kind == 'LinearLR':
            return float(sch.get('start_factor', 1. / 3))
        if kind == 'ConstantLR':
            return float(sch.get('factor', 1. / 3))
    return 1.


class TimedTrainStep:
    """One model of a config: its ``train_step`` on a fixed synthetic batch
    with the config's optimizer wrapper, and its clock."""

    def __init__(self, role, path, device, shape=None, batch_size=None,
                 amp=False):
        from mmengine.logging import MMLogger
        from mmengine.optim import build_optim_wrapper
        from mmengine.registry import DefaultScope
        self.role, self.path, self.amp = role, path, amp
        self.name = osp.splitext(osp.basename(path.split('::')[-1]))[0]
        if '::' not in path and not osp.isfile(path):
            raise _error(f'config not found: {path!r}')
        try:
            cfg = task_config(path)
        except (FileNotFoundError, ValueError) as e:
            raise _error(f'{path}: {e}') from e
        self.task = config_task(cfg)
        if not cfg.get('optim_wrapper'):
            raise _error(f'{path}: no optim_wrapper (--train needs the '
                         "config's optimizer)")
        wrapper = copy.deepcopy(cfg.optim_wrapper)
        if amp:
            from mmhybrid.engine import amp_wrapper_type
            try:
                wrapper.type = amp_wrapper_type(wrapper.get('type'))
            except ValueError as e:
                raise _error(f'{path}: {e}') from e
            wrapper.setdefault('loss_scale', 'dynamic')
        _train_pipeline(cfg)  # a config that trains
        self.batch_size = batch_size or cfg.train_dataloader.batch_size
        self.hw = tuple(shape) if shape else train_input_size(cfg, self.task)
        pre = cfg.model.get('data_preprocessor') or {}
        if shape and pre.get('size'):  # it pads every image to its size
            pre['size'] = self.hw
        self.model = build_model(cfg, device=str(device)).train()
        self.initial = {n: p.detach().to('cpu', copy=True)
                        for n, p in self.model.named_parameters()
                        if p.requires_grad}
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)  # not one line per parameter
        try:
            with DefaultScope.overwrite_default_scope(cfg.default_scope):
                self.optim_wrapper = build_optim_wrapper(self.model, wrapper)
        finally:
            logger.setLevel(level)
        # the learning rate of the Runner's first iteration (a warm-up's
        # start): random weights at full rate can diverge within a window
        self.lr_factor = _warmup_factor(cfg)
        for group in self.optim_wrapper.param_groups:
            group['lr'] *= self.lr_factor
        self.wrapper_type = (f'{type(self.optim_wrapper).__name__}'
                             f'({type(self.optim_wrapper.optimizer).__name__})')
        self.batch = train_batch(self.model, self.task, self.hw,
                                 self.batch_size,
                                 _num_classes(cfg.model) or 1)
        self.device = device
        self.times, self.losses = [], []

    def step(self, record):
        """One synchronised training step; returns its end time."""
        batch = copy.deepcopy(self.batch)  # the preprocessor pads in place
        sync(self.device)
        t0 = time.perf_counter()
        try:
            log = self.model.train_step(batch, self.optim_wrapper)
        except (ValueError, RuntimeError, AssertionError) as e:
            if self.losses:  # it trained before: not the set-up
                raise
            raise _error(
                f'{self.name}: its training step fails on a batch of '
                f'{self.batch_size} at {self.hw[0]}x{self.hw[1]} '
                f'({type(e).__name__}: {e}); try another --batch-size or '
                '--shape') from e
        sync(self.device)
        t1 = time.perf_counter()
        self.losses.append(
            sum(float(v) for k, v in log.items() if 'loss' in k))
        if record:
            self.times.append(t1 - t0)
        return t1

    def peak_memory(self):
        """``(MB, kind)``: the model's state plus the peak of one step
        alone above its start (:data:`PEAK_MEMORY_KINDS`)."""
        state = _state_bytes(self.model, self.optim_wrapper)
        if self.device.type == 'cuda':
            sync(self.device)
            start = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.step(record=False)
            step = torch.cuda.max_memory_allocated(self.device) - start
            kind = 'cuda_allocated'
        else:
            step = _profiled_peak(lambda: self.step(record=False))
            kind = 'cpu_profiler_allocated'
        self.state_mb, self.step_mb = state / 2**20, step / 2**20
        return (state + step) / 2**20, kind

    def params_changed(self):
        """The fraction of the trainable parameter tensors that the steps
        so far changed (it really trains)."""
        if not self.initial:
            return 0.
        params = dict(self.model.named_parameters())
        changed = sum(not torch.equal(params[n].detach().cpu(), p0)
                      for n, p0 in self.initial.items())
        return changed / len(self.initial)

    def row(self):
        s = summarize_times(self.times, self.batch_size)
        return dict(model=self.name, config=self.path, role=self.role,
                    task=self.task, shape=list(self.hw),
                    batch_size=self.batch_size, amp=self.amp,
                    optim_wrapper=self.wrapper_type, iters=s['iters'],
                    throughput=s['throughput'], latency_ms=s['latency_ms'],
                    latency_median_ms=s['latency_median_ms'],
                    loss=self.losses[-1], lr_factor=self.lr_factor,
                    nonfinite_losses=int(sum(
                        not np.isfinite(x) for x in self.losses)),
                    params_changed=self.params_changed())


def run_iters(timed, iters, record):
    """``iters`` iterations of each model under test, alternating every
    iteration in ABBA order (as :func:`~.timing.run_window`)."""
    order = list(timed)
    for _ in range(iters):
        for t in order:
            t.step(record)
        order.reverse()


def benchmark_train(configs, baselines=(), shape=None, batch_size=None,
                    amp=False, device='cpu', threads=None, warmup_secs=3.,
                    secs=10., iters=None, progress=True):
    """One row per config (ours, then each baseline): the training step's
    images/s and ms per iteration (all models alternating in one window of
    ``secs``, or ``iters`` iterations each, after ``warmup_secs`` of
    warm-up; every model steps at least once in each), the peak memory of
    one step alone (:meth:`TimedTrainStep.peak_memory`), and against every
    baseline the ratios of images/s (speed) and of peak memory (ours /
    baseline)."""
    if iters is not None and iters < 1:
        raise _error(f'--iters must be >= 1, got {iters}')
    if batch_size is not None and batch_size < 1:
        raise _error(f'--batch-size must be >= 1, got {batch_size}')
    device = setup_device(device, threads)
    if amp and device.type != 'cuda':
        raise _error('--amp with --train: mmengine\'s AmpOptimWrapper '
                     'trains on a GPU (--device cuda)')
    forms = [('ours', p) for p in configs] + [('baseline', p)
                                               for p in baselines]
    bar = _progress(len(forms), progress)
    timed = []
    for role, path in forms:
        timed.append(TimedTrainStep(role, path, device, _hw(shape),
                                    batch_size, amp))
        if bar is not None:
            bar.update()
    _done(bar)
    run_window(timed, warmup_secs, record=False)  # optimizer state made
    peaks = [t.peak_memory() for t in timed]
    if iters is None:
        run_window(timed, secs, record=True)
    else:
        run_iters(timed, iters, record=True)
    rows = []
    for t, (peak, kind) in zip(timed, peaks):
        row = t.row()
        row.update(device=str(device), threads=torch.get_num_threads(),
                   peak_memory_mb=round(peak, 1), peak_memory_kind=kind,
                   state_mb=round(t.state_mb, 1),
                   step_peak_mb=round(t.step_mb, 1))
        rows.append(row)
    for row in rows:
        row['vs'] = {  # speed: images/s ours / baseline
            b['model']: dict(speed=row['throughput'] / b['throughput'],
                             memory=row['peak_memory_mb'] /
                             b['peak_memory_mb'])
            for b in rows if b['role'] == 'baseline'}
    return rows
