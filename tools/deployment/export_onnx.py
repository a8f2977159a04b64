"""Export an mmhybrid model to ONNX and check it against PyTorch with
onnxruntime (the library: :mod:`mmhybrid.deploy`).

    # a whole detector or segmentor, through mmdeploy (standard ops only)
    python tools/deployment/export_onnx.py configs/maskrcnn_shvit_s4_coco.py \\
        --checkpoint ckpt.pth --shape 800 1344 --dynamic --out m.onnx
    # a bare backbone (random init unless --checkpoint), deploy mode
    python tools/deployment/export_onnx.py --backbone SHViT --arch s1 \\
        --shape 224 224 --dynamic --out shvit_s1.onnx
    # a classifier config (logits of ``model(x, mode='tensor')``)
    python tools/deployment/export_onnx.py configs/imagenet_shvit_s1.py \\
        --checkpoint shvit_s1.pth --shape 224 224 --out shvit_s1_cls.onnx

A detector or segmentor follows mmdeploy's convention: the input is the data
preprocessor's output; a detector gives ``dets`` (N x 5), ``labels`` and
``masks`` (pasted at the input size), a segmentor its class map. Its parity
check runs a real photograph (``--image``, default matplotlib's Grace Hopper)
through onnxruntime and the PyTorch model's ``predict`` and prints matched
detections' box and score errors and mask IoU, or the seg-map agreement;
with ``--dynamic`` also at a second size (``--check-shape``). ``--speed``
times onnxruntime against the PyTorch deploy form on the same input and
threads (``--threads``).

A backbone or classifier is checked on noise: for every output the max
absolute and relative error (``--tol``). Exit status 1 when a figure is past
its tolerance, 2 when the model cannot be exported (the error names the op
or the config).
"""
import argparse
import os.path as osp
import sys

import torch

from mmhybrid.apis import add_backbone_args, config_task, load_config
from mmhybrid.deploy import switch_to_deploy
from mmhybrid.deploy.onnx import (TOLERANCES, ExportError, build_backbone,
                                  build_classifier, check_export, export,
                                  export_model, failures, format_figures,
                                  randomize_norms, tensor_parity,
                                  time_onnx_vs_torch)

WHOLE_TASKS = ('detection', 'segmentation')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export an mmhybrid model (detector, segmentor, '
        'classifier or bare backbone) to ONNX and check it against PyTorch '
        'with onnxruntime.')
    parser.add_argument('config', nargs='?',
                        help='a detector, segmentor or classifier config; '
                        'omit it and give --backbone for a bare backbone')
    parser.add_argument('--checkpoint', help='checkpoint to load (a full '
                        'model for a config, a backbone state dict or a '
                        "checkpoint with 'backbone.' keys for --backbone)")
    add_backbone_args(parser, help='a bare backbone instead of a config')
    parser.add_argument('--out-indices', type=int, nargs='+',
                        help='backbone outputs to export (default: the '
                        "backbone's own default)")
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input height and width (default 224 224; a '
                        "detector/segmentor: its config's test resize)")
    parser.add_argument('--batch-size', type=int, default=1,
                        help='backbone/classifier only')
    parser.add_argument('--opset', type=int, default=17,
                        help='ONNX opset version (default 17; detectors and '
                        'segmentors need >= 16)')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch, height and width axes')
    parser.add_argument('--dynamic-batch-only', action='store_true',
                        help='with --dynamic: only the batch axis is dynamic '
                        '(backbone/classifier)')
    parser.add_argument('--check-shape', type=int, nargs=2,
                        metavar=('H', 'W'),
                        help='second input size of the dynamic parity check '
                        '(default: H+32, W+32; detector/segmentor: H+64, '
                        'W+128)')
    parser.add_argument('--image', help='photo of the detector/segmentor '
                        'parity check (default: matplotlib\'s '
                        'grace_hopper.jpg)')
    parser.add_argument('--no-deploy', action='store_true',
                        help='do not call switch_to_deploy()')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the onnxruntime parity check')
    parser.add_argument('--tol', type=float, default=1e-3,
                        help='backbone/classifier: largest relative error '
                        'the check accepts')
    parser.add_argument('--box-tol', type=float, default=TOLERANCES['box'],
                        help='largest box error (pixels) of a matched '
                        'detection')
    parser.add_argument('--score-tol', type=float,
                        default=TOLERANCES['score'],
                        help='largest score error of a matched detection')
    parser.add_argument('--mask-iou-tol', type=float,
                        default=TOLERANCES['mask_iou'],
                        help='smallest mask IoU of a matched detection')
    parser.add_argument('--seg-tol', type=float,
                        default=TOLERANCES['seg_agreement'],
                        help='smallest share of equal seg-map pixels')
    parser.add_argument('--speed', action='store_true',
                        help='time onnxruntime against the PyTorch deploy '
                        'form (detector/segmentor)')
    parser.add_argument('--threads', type=int, default=1,
                        help='threads of both runtimes for --speed')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed runs of --speed (median)')
    parser.add_argument('--dynamo', action='store_true',
                        help='backbone/classifier: the dynamo exporter '
                        '(needs onnxscript)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE',
                        help='override config settings (detector/segmentor), '
                        'e.g. model.test_cfg.rcnn.score_thr=0.3')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if (args.config is None) == (args.backbone is None):
        parser.error('give either a CONFIG or --backbone TYPE (not both)')
    if args.config is not None and (args.arch or args.out_indices):
        parser.error('--arch/--out-indices go with --backbone; set them in '
                     'the config for a classifier')
    if not args.out.endswith('.onnx'):
        parser.error(f'--out must be a .onnx file, got {args.out!r}')
    return args


def _options(pairs):
    out = {}
    for pair in pairs:
        if '=' not in pair:
            raise ExportError(f'--cfg-options takes KEY=VALUE, got {pair!r}')
        key, value = pair.split('=', 1)
        try:
            import ast
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pass
        out[key] = value
    return out


def _report(tag, x, errs):
    for i, (a, r) in enumerate(errs):
        print(f'[parity] {tag} input {tuple(x.shape)} output{i}: '
              f'max abs err {a:.3e}, rel err {r:.3e}')


def _export_and_check(model, x, args, name, deployed, batch_only):
    """Export a tensor model, then check parity on noise; return the worst
    relative error (None with --no-check)."""
    names = export(model, x, args.out, args.opset, args.dynamic,
                   batch_only, args.dynamo)
    dyn = ('static' if not args.dynamic else
           'dynamic batch' if batch_only else 'dynamic batch/height/width')
    how = ('deploy: ' + ', '.join(deployed)) if deployed else \
        'no deploy switch'
    print(f'Exported {name} ({how}) to {args.out}: input '
          f'{tuple(x.shape)}, outputs {names}, opset {args.opset}, '
          f'{dyn} axes')
    if args.no_check:
        return None
    errs = tensor_parity(model, args.out, x)
    _report('static', x, errs)
    worst = max(r for _, r in errs)
    if args.dynamic:
        b2, (_, _, h, w) = x.shape[0] + 1, x.shape
        h2, w2 = (h, w) if batch_only else (args.check_shape
                                            or (h + 32, w + 32))
        x2 = torch.randn(b2, 3, h2, w2)
        errs = tensor_parity(model, args.out, x2)
        _report('dynamic', x2, errs)
        worst = max([worst] + [r for _, r in errs])
    return worst


def export_tensors(args):
    """A bare backbone or a classifier: tensors out."""
    if args.backbone:
        model = build_backbone(args.backbone, args.arch, args.out_indices,
                               args.checkpoint)
        name = args.backbone + (f'-{args.arch}' if args.arch else '')
    else:
        model = build_classifier(args.config, args.checkpoint)
        name = osp.splitext(osp.basename(args.config))[0]
    if args.checkpoint is None:
        randomize_norms(model, args.seed)
    model.eval()
    deployed = [] if args.no_deploy else switch_to_deploy(model)
    model.eval()
    h, w = args.shape or (224, 224)
    x = torch.randn(args.batch_size, 3, h, w)
    # fall back from dynamic batch/size to dynamic batch to static;
    # modes are (dynamic, batch_only)
    modes = [(True, False), (True, True), (False, False)]
    if args.dynamic_batch_only:
        modes = modes[1:]
    if not args.dynamic:
        modes = [(False, False)]
    for i, (dynamic, batch_only) in enumerate(modes):
        args.dynamic = dynamic
        try:
            worst = _export_and_check(model, x, args, name, deployed,
                                      batch_only)
            break
        except ExportError as e:
            if i == len(modes) - 1:
                raise
            what = 'a dynamic batch axis' if batch_only else \
                'dynamic batch and input size'
            nxt = 'a dynamic batch axis only' if modes[i + 1][0] \
                else 'static shapes'
            print(f'Note: {name} cannot be exported with {what} '
                  f'({e}); exporting with {nxt}')
    if worst is None:
        return 0
    if worst > args.tol:
        print(f'[parity] FAILED: rel err {worst:.3e} > tol {args.tol}')
        return 1
    print(f'[parity] OK: max rel err {worst:.3e} <= tol {args.tol}')
    return 0


def export_whole(args):
    """A detector or segmentor through mmdeploy: mmdeploy's outputs."""
    result = export_model(
        args.config, args.out, checkpoint=args.checkpoint,
        shape=args.shape, dynamic=args.dynamic, opset=args.opset,
        image=args.image, deploy=not args.no_deploy,
        cfg_options=_options(args.cfg_options))
    how = ('deploy: ' + ', '.join(result.deployed)) if result.deployed \
        else 'no deploy switch'
    print(f'Exported {osp.basename(args.config)} ({how}) to {args.out}: '
          f'input {result.input_shape}, outputs {result.output_names}, '
          f'opset {result.opset}, '
          f"{'dynamic batch/height/width' if args.dynamic else 'static'} "
          'axes, standard ONNX ops only')
    status = 0
    if not args.no_check:
        h, w = result.input_shape[-2:]
        shapes = [(h, w)]
        if args.dynamic:
            shapes.append(tuple(args.check_shape or (h + 64, w + 128)))
        tolerances = dict(box=args.box_tol, score=args.score_tol,
                          mask_iou=args.mask_iou_tol,
                          seg_agreement=args.seg_tol)
        for shape, figures in check_export(result, args.image, shapes):
            print(f'[parity] input {shape}: {format_figures(figures)}')
            bad = failures(figures, tolerances,
                           require_detections=args.checkpoint is not None)
            if figures.get('torch_dets', 1) == 0 and not bad:
                print('[parity] note: no detection on the image (random '
                      'weights): boxes were not compared')
            if bad:
                print(f"[parity] FAILED at input {shape}: {'; '.join(bad)}")
                status = 1
        if status == 0:
            print('[parity] OK')
    if args.speed:
        from mmhybrid.deploy.onnx import create_input
        data, x = create_input(result.cfg, result.deploy_cfg, result.model,
                               args.image, result.input_shape[-2:])
        t = time_onnx_vs_torch(result.model, args.out, x,
                               data['data_samples'], threads=args.threads,
                               repeats=args.repeats)
        print(f"[speed] input {tuple(x.shape)}, {t['threads']} thread(s): "
              f"PyTorch deploy form {t['torch_ms']:.1f} ms, onnxruntime "
              f"{t['onnx_ms']:.1f} ms: onnxruntime / PyTorch speed "
              f"{t['ratio']:.2f}x")
    return status


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    try:
        whole = False
        if args.config is not None:
            if not osp.isfile(args.config):
                raise FileNotFoundError(f'config not found: {args.config!r}')
            if args.checkpoint is not None and \
                    not osp.isfile(args.checkpoint):
                raise FileNotFoundError(
                    f'checkpoint not found: {args.checkpoint!r}')
            whole = config_task(load_config(args.config)) in WHOLE_TASKS
        return export_whole(args) if whole else export_tensors(args)
    except (ExportError, FileNotFoundError) as e:
        print(f'Error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
