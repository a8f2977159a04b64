"""Test a checkpoint with an mmhybrid config and print its metrics (box/mask
AP, mIoU or top-1, as the config's evaluator says). Same flags as mmdet/mmseg
``tools/test.py``, plus ``--deploy`` (the model's deploy form for its device), ``--compile
[MODE]`` (``torch.compile`` of backbone and neck), ``--bf16``
(CPU bf16 autocast; :mod:`mmhybrid.deploy.bf16`) and ``--backend
onnxruntime`` (CHECKPOINT is then an ONNX file of
``tools/deployment/export_onnx.py --dynamic``, run by onnxruntime as
mmdeploy's ``tools/test.py`` runs it: :func:`mmhybrid.deploy.use_onnxruntime`). The printed summary and
``test_metrics.json`` say which form ran (``inference_form``). An evaluation
without a usable number (no metric, NaN/Inf, COCO's -1, NaN/Inf model
outputs: :func:`mmhybrid.apis.check_metrics`) exits 1, keeping what it
wrote."""
import argparse
import json
import numbers
import os.path as osp
import sys

from mmhybrid.apis import (add_common_args, apply_eval_protocol,
                           apply_trust_arg, build_runner,
                           check_coco_annotations, check_data_roots,
                           check_metrics, check_writable, config_task,
                           explain_errors, load_config, parse_common_args,
                           run_cli, summarize_metrics)
from mmhybrid.deploy import add_compile_argument
from mmhybrid.deploy.onnx import use_onnxruntime
from mmhybrid.engine import InferenceFormHook, inference_form

ONNXRUNTIME_FORM = 'onnxruntime (exported ONNX file)'


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (with --backend '
                        'onnxruntime: the exported .onnx file)')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='dump predictions to this pickle file')
    parser.add_argument('--show-dir',
                        help='save painted predictions into this directory '
                        '(relative to the work dir\'s timestamped folder)')
    parser.add_argument(
        '--deploy', action='store_true',
        help='test the deploy form of the model (BN folded into the convs, '
        'fused conv+activation: mmhybrid.utils.switch_to_deploy) instead of '
        'the model as trained')
    parser.add_argument(
        '--bf16', action='store_true',
        help='CPU only: run the convolutions and linears of the backbone, '
        'neck and heads in bfloat16 (autocast), keeping mmcv ops (NMS, '
        'RoIAlign), box decoding, mask pasting and the seg-logit resize in '
        'float32 (mmhybrid.utils.enable_bf16). Faster on CPUs with bf16 '
        'units; metrics may differ slightly from float32')
    add_compile_argument(parser, 'the log and inference_form')
    parser.add_argument(
        '--backend', choices=['pytorch', 'onnxruntime'], default='pytorch',
        help='run the model with PyTorch (default) or run the ONNX file '
        'given as CHECKPOINT with onnxruntime (export it with '
        'tools/deployment/export_onnx.py CONFIG --dynamic)')
    parser.add_argument(
        '--eval-protocol', default='default', metavar='NAME',
        help='evaluate with another protocol the config offers in its '
        '`eval_protocols` (e.g. `cvnets` for the HarmoVision DeepLabv3: image '
        'and label resized to 512x512, as the upstream number was measured); '
        'default: the config\'s own test pipeline')
    add_common_args(parser)
    return parse_common_args(parser)


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint not found: {args.checkpoint!r}')
    onnx = args.backend == 'onnxruntime'
    if onnx and (args.deploy or args.bf16 or args.compile):
        raise ValueError('--deploy/--bf16/--compile are forms of the PyTorch '
                         'model; the ONNX file is already the deploy form')
    if onnx != args.checkpoint.endswith('.onnx'):
        raise ValueError(
            f'--backend {args.backend} takes a '
            f"{'.onnx file' if onnx else 'PyTorch checkpoint'} as "
            f'CHECKPOINT, got {args.checkpoint!r}')
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher, args.allow_partial_load)
    cfg.load_from = args.checkpoint
    apply_eval_protocol(cfg, args.eval_protocol)
    if args.show_dir:
        vis_hook = cfg.default_hooks.get('visualization')
        if vis_hook is None:
            raise ValueError('--show-dir needs default_hooks.visualization')
        vis_hook.draw = True
        if config_task(cfg) == 'segmentation':
            cfg.visualizer.save_dir = args.show_dir
        else:
            vis_hook.test_out_dir = args.show_dir
    evaluators = cfg.test_evaluator
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    # counts NaN/Inf outputs, which check_metrics refuses
    evaluators = list(evaluators) + [dict(type='NonFiniteOutputs')]
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out!r}')
        check_writable(args.out, '--out')
        evaluators.append(
            dict(type='mmengine.DumpResults', out_file_path=args.out))
    cfg.test_evaluator = evaluators
    hooks = list(cfg.get('custom_hooks') or [])
    if args.deploy or args.bf16 or args.compile:
        hooks.append(dict(type='InferenceFormHook', deploy=args.deploy,
                          bf16=args.bf16, compile=args.compile))
        cfg.custom_hooks = hooks
    # the form that runs, also where the config itself asks for one
    forms = [h for h in hooks if isinstance(h, dict)
             and str(h.get('type', '')).endswith('InferenceFormHook')]
    deploy = any(h.get('deploy', False) for h in forms)
    bf16 = any(h.get('bf16', False) for h in forms)
    compile_mode = next((h['compile'] for h in forms if h.get('compile')),
                        None)
    form = inference_form(deploy, bf16, compile_mode)
    if onnx:
        use_onnxruntime(cfg, args.checkpoint)
        form = ONNXRUNTIME_FORM
    check_data_roots(cfg, 'test_dataloader')
    check_coco_annotations(cfg, 'test_dataloader')
    check_writable(cfg.work_dir, 'the work dir (--work-dir)', is_dir=True)
    with apply_trust_arg(args, args.checkpoint):
        runner = build_runner(cfg)
        with explain_errors(cfg, ('test_dataloader', )):
            metrics = runner.test()
    # the form as it ran (a part that failed to compile ran eagerly)
    form = next((h.form for h in runner.hooks
                 if isinstance(h, InferenceFormHook)), form)
    if runner.rank == 0:
        out = osp.join(runner.log_dir, 'test_metrics.json')
        result = {k: float(v) for k, v in metrics.items()
                  if isinstance(v, numbers.Number)}
        result.update(inference_form=form, deploy=deploy, bf16=bf16,
                      compile=compile_mode, backend=args.backend)
        with open(out, 'w') as f:
            json.dump(result, f, indent=1)
        print(f'inference form: {form}')
        print('\n'.join(summarize_metrics(metrics)))
        print(f'metrics written to {out}')
        # no metric, NaN or COCO's -1 is no result: exit non-zero
        check_metrics(metrics, config_task(cfg),
                      kept=(runner.log_dir, args.out))


if __name__ == '__main__':
    sys.exit(run_cli(main, 'tools/test.py'))
