"""The timing protocol of the benchmarks (SHViT's speed test): models under
test alternate every iteration in one time-based window (ABBA order, so that
load changes on a shared machine hit all alike), every iteration synchronised
on GPU; peak memory per window; and the GEMM "roofline": two plain GEMMs timed
in the same windows, against which a model's FLOP rate is read."""
import math
import platform
import resource
import statistics
import time
from contextlib import nullcontext

import torch

__all__ = ['DTYPES', 'GEMM_MKN', 'Timed', 'run_window', 'sync',
           'setup_device', 'reset_peak_memory', 'peak_memory_mb',
           'summarize_times', 'gemm_timers', 'gemm_rate']

DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}

# SHViT's 1x1 convs at batch 16: 4096 stride-16 tokens, 224-448 channels
GEMM_MKN = (4096, 512, 512)


def sync(device):
    """Wait for the device's queued work (GPU); a no-op on CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def setup_device(device, threads=None):
    """The ``torch.device``, with the CPU thread count (``threads``) or
    cuDNN's autotuner (CUDA) set."""
    device = torch.device(device)
    if threads:
        torch.set_num_threads(threads)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    return device


class Timed:
    """One model under test: a callable on a fixed input, with its clock.

    ``dtype`` is ``'fp32'`` or a key of :data:`DTYPES` (autocast)."""

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
            sync(self.device)
            t1 = time.perf_counter()
        if record:
            self.times.append(t1 - t0)
        return t1


def run_window(timed, secs, record):
    """Iterate the models under test (objects with ``step(record)``) for
    ``secs`` seconds, each at least once. Several alternate every iteration,
    in ABBA order."""
    start = time.perf_counter()
    order = list(timed)
    while True:
        for t in order:
            end = t.step(record)
        order.reverse()
        if end - start >= secs:
            break


def reset_peak_memory(device):
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


def peak_memory_mb(device, kind):
    """The peak memory (MB) since :func:`reset_peak_memory` returned
    ``kind``."""
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


def summarize_times(times, batch):
    """Iterations, total time, throughput (images/s) and mean / median
    latency (ms) of a list of per-batch times."""
    n = len(times)
    total = sum(times)
    return dict(
        iters=n,
        time_s=round(total, 4),
        throughput=batch * n / total if total else 0.,
        latency_ms=1000 * total / n if n else 0.,
        latency_median_ms=1000 * statistics.median(times) if n else 0.)


def gemm_timers(device, dtype):
    """``{kind: Timed}``: the GEMM :data:`GEMM_MKN` as ``torch.mm`` (the BLAS
    PyTorch was built with) and as a channels-last 1x1 ``FusedConv2d``
    (oneDNN on CPU, the library the deploy form runs on; M = batch 16 x 16 x
    16)."""
    # the one place the analysis reaches the deploy form's fused conv
    from mmhybrid.deploy import FusedConv2d
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


def gemm_rate(timed):
    """GFLOP/s of a :func:`gemm_timers` entry (M*K*N per product, one
    multiply-add = one FLOP, as mmengine counts models)."""
    return math.prod(GEMM_MKN) * len(timed.times) / sum(timed.times) / 1e9
