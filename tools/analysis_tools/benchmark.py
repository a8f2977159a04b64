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
and box decoding in fp32: :func:`mmhybrid.utils.enable_bf16`).
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
``FusedConv2d`` (oneDNN on CPU, the library the
deploy form runs on; on x86 CPUs that are not Intel's it can be the faster
of the two). Each row reports the model's achieved rate (its mmengine FLOP
count, one multiply-add = one FLOP, times images/s) and the fraction of each
GEMM rate (counted the same way: M*K*N per product) it reaches.

Train mode (``--train``): each config's training step as mmengine's train
loop runs it (``model.train_step``: data preprocessor, forward, losses,
backward, the step of the optimizer wrapper built from the config's
``optim_wrapper``) on a synthetic batch of the config's train size and
per-GPU batch (``train_dataloader.batch_size``; ``--shape`` and
``--batch-size`` override) with random ground truth (boxes, labels and masks;
a seg map; labels). ``--baseline`` configs alternate with ours every
iteration; each row gives images/s, ms per iteration, the peak memory of
one step alone (the model's state plus the step's peak above its start,
on CUDA from ``torch.cuda.max_memory_allocated``, on CPU from the PyTorch
profiler's allocation records; the output says which) and the ratios of
images/s and of peak memory against each baseline. ``--amp``: the config's
optimizer wrapper's mixed-precision counterpart (AmpOptimWrapper; CUDA).
``--iters N`` times N iterations of each instead of a ``--secs`` window::

    python tools/analysis_tools/benchmark.py configs/maskrcnn_shvit_s4_coco.py \
        --train --device cuda --amp \
        --baseline mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py

ONNX mode (``--onnx [FILE ...]``): each detector or segmentor config is
exported whole through :mod:`mmhybrid.deploy` (or the given file, one per
config, is used), and onnxruntime is timed against PyTorch's ``predict`` of
the deploy form on the same preprocessed photograph, with the same
``--threads`` (default 1), in one process: the median of ``--repeats`` runs
each, and the ratio PyTorch / onnxruntime (> 1: onnxruntime is faster)::

    python tools/analysis_tools/benchmark.py configs/maskrcnn_shvit_s4_coco.py \
        --onnx --shape 800 1333 --threads 1 --score-thr 0

The protocol, the tables and the plot are library code
(:mod:`mmhybrid.analysis`); this file parses the arguments and prints.
"""

import argparse
import os.path as osp

from mmhybrid.analysis import (BenchmarkError, benchmark_models,
                               benchmark_onnx, benchmark_task,
                               benchmark_train, build_targets, load_results,
                               onnx_table, plot_accuracy_throughput,
                               save_results, task_table, throughput_table,
                               train_table)
from mmhybrid.apis import add_backbone_args


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Benchmark throughput/latency of mmhybrid models')
    p.add_argument('configs', nargs='*', help='model configs')
    add_backbone_args(p, arch=False,
                      help='a bare backbone instead of configs')
    p.add_argument('--arch', nargs='+', default=[None],
                   help='arch(s) of --backbone, e.g. s1 s2')
    p.add_argument('--shape', type=int, nargs='+', default=None,
                   help='input H [W] (default: config test resolution, '
                   'else 224)')
    p.add_argument('--batch-size', type=int, default=None,
                   help='images per batch (default: 16; with --task 1; '
                   "with --train the config's train_dataloader.batch_size)")
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
                   help='shorthand: --dtype fp16 on GPU, bf16 on CPU; with '
                   '--train: the AMP optimizer wrapper (CUDA)')
    p.add_argument('--warmup-secs', type=float, default=3.)
    p.add_argument('--secs', type=float, default=10.)
    p.add_argument('--iters', type=int, default=None,
                   help='with --train: time this many iterations of each '
                   'model instead of a --secs window')
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
                      help='stock model(s) timed alternately with ours '
                      '(--task, --train)')
    task.add_argument('--bf16', action='store_true',
                      help='also time the CPU bf16 form')
    task.add_argument('--score-thr', type=float, default=None,
                      help='detectors: override the test score threshold '
                      '(0: every image keeps max_per_img detections)')
    task.add_argument('--onnx', nargs='*', default=None, metavar='ONNX',
                      help='whole detectors/segmentors: time onnxruntime '
                      'against the PyTorch deploy form (same input and '
                      'threads) and print the ratio; each config is '
                      'exported, or give one .onnx per config')
    task.add_argument('--train', action='store_true',
                      help='time the training step (forward, backward, '
                      'optimizer) of each config, with its peak memory')
    task.add_argument('--repeats', type=int, default=5,
                      help='timed runs of each runtime with --onnx (median)')
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
    if args.shape is not None and len(args.shape) not in (1, 2):
        p.error('--shape takes H or H W')
    if args.train:
        _check_train_args(p, args)
        return args
    if args.iters is not None:
        p.error('--iters needs --train')
    if args.batch_size is None:
        args.batch_size = 1 if args.task else 16
    if args.batch_size < 1:
        p.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.amp:
        args.dtype = ['fp16' if args.device.startswith('cuda') else 'bf16']
    if (args.baseline or args.bf16) and not args.task:
        p.error('--baseline and --bf16 need --task (--baseline: or --train)')
    if args.score_thr is not None and not (args.task or
                                           args.onnx is not None):
        p.error('--score-thr needs --task or --onnx')
    if args.onnx is not None and (args.backbone or not args.configs):
        p.error('--onnx times configs (not --backbone)')
    if args.onnx is not None and args.task:
        p.error('--onnx and --task are separate runs')
    if args.onnx and len(args.onnx) != len(args.configs):
        p.error(f'--onnx: give one file per config ({len(args.configs)}) '
                'or none (export each)')
    if args.onnx is not None and args.device != 'cpu':
        p.error('--onnx times onnxruntime on the CPU (--device cpu)')
    if args.onnx is not None and args.threads is None:
        args.threads = 1
    if args.task and (args.backbone or not args.configs):
        p.error('--task times configs (not --backbone)')
    if args.task and args.plot:
        p.error('--plot is for classifier throughput, not --task')
    if args.bf16 and args.device != 'cpu':
        p.error('--bf16 is a CPU mode (use --amp on GPU)')
    return args


def _check_train_args(p, args):
    if args.backbone or not args.configs:
        p.error('--train times configs (not --backbone)')
    other = [flag for flag, on in (
        ('--task', args.task), ('--onnx', args.onnx is not None),
        ('--deploy', args.deploy), ('--bf16', args.bf16),
        ('--compile', args.compile), ('--channels-last', args.channels_last),
        ('--compare-timm', args.compare_timm), ('--plot', args.plot),
        ('--score-thr', args.score_thr is not None),
        ('--dtype', args.dtype != ['fp32'])) if on]
    if other:
        p.error(f'--train times the model as it trains; it does not take '
                f'{", ".join(other)} (--amp for mixed precision)')
    if args.amp and not args.device.startswith('cuda'):
        p.error("--train --amp: mmengine's AmpOptimWrapper trains on a GPU "
                '(--device cuda)')
    if args.iters is not None and args.iters < 1:
        p.error(f'--iters must be >= 1, got {args.iters}')
    if args.batch_size is not None and args.batch_size < 1:
        p.error(f'--batch-size must be >= 1, got {args.batch_size}')


def run(args):
    """The result rows of the timing the arguments ask for."""
    common = dict(device=args.device, threads=args.threads,
                  warmup_secs=args.warmup_secs, secs=args.secs,
                  progress=not args.no_progress)
    if args.onnx is not None:
        return benchmark_onnx(args.configs, args.onnx or None, args.shape,
                              args.threads, args.score_thr,
                              repeats=args.repeats)
    if args.train:
        return benchmark_train(args.configs, args.baseline, args.shape,
                               args.batch_size, args.amp,
                               iters=args.iters, **common)
    if args.task:
        return benchmark_task(args.configs, args.baseline, args.deploy,
                              args.bf16, args.score_thr, args.shape,
                              batch_size=args.batch_size,
                              compile=args.compile, **common)
    targets = build_targets(args.configs, args.backbone, args.arch,
                            args.shape)
    return benchmark_models(
        targets, batch_size=args.batch_size, deploy=args.deploy,
        channels_last=args.channels_last, compile=args.compile,
        dtypes=args.dtype, compare_timm=args.compare_timm,
        timm_layout=args.timm_layout, **common)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.replot:
            results = load_results(args.replot)
            print(throughput_table(results))
        else:
            results = run(args)
            if args.onnx is not None:
                print(onnx_table(results))
            else:
                print(train_table(results) if args.train else
                      task_table(results) if args.task else
                      throughput_table(results))
            if args.out:
                save_results(results, args.out, args.device,
                             args.warmup_secs, args.secs)
                print(f'wrote {args.out}')
        if args.plot:
            plot_accuracy_throughput(results, args.plot)
            print(f'wrote {args.plot}')
    except BenchmarkError as e:
        raise SystemExit(str(e))
    return results


if __name__ == '__main__':
    main()
