"""Export an mmhybrid backbone or ImageNet classifier to ONNX and check it
against PyTorch with onnxruntime.

    # a bare backbone (random init unless --checkpoint), deploy mode
    python tools/deployment/export_onnx.py --backbone SHViT --arch s1 \\
        --shape 224 224 --dynamic --out shvit_s1.onnx
    # a classifier config (logits of ``model(x, mode='tensor')``)
    python tools/deployment/export_onnx.py configs/imagenet_shvit_s1.py \\
        --checkpoint shvit_s1.pth --shape 224 224 --out shvit_s1_cls.onnx

Before export every module that has ``switch_to_deploy()`` (SHViT's
Conv+BN fusion, ``BNLinearClsHead``'s BN folding) is switched, unless
``--no-deploy``. The model is exported with the legacy TorchScript exporter
(``torch.onnx.export(..., dynamo=False)``): torch 2.13 defaults to
``dynamo=True``, which needs ``onnxscript`` (``--dynamo`` uses it when it is
installed).

The parity check runs the ONNX model with onnxruntime on a random input and
prints, for every output, the max absolute error and the relative error
``max|onnx - torch| / max|torch|``; with ``--dynamic`` it is repeated at a
second batch size and input size (``--check-shape``). The exit status is 1
when a relative error exceeds ``--tol``.
"""
import argparse
import os
import os.path as osp
import re
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn

from mmhybrid.apis import TensorForward, build_model, config_task, load_config
from mmhybrid.utils import switch_to_deploy


class ExportError(RuntimeError):
    """An export that cannot be done, with the reason in words."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export an mmhybrid backbone or classifier to ONNX and '
        'check it against PyTorch with onnxruntime.')
    parser.add_argument('config', nargs='?',
                        help='classifier config (configs/imagenet_*.py); '
                        'omit it and give --backbone for a bare backbone')
    parser.add_argument('--checkpoint', help='checkpoint to load (a full '
                        'model for a config, a backbone state dict or a '
                        "checkpoint with 'backbone.' keys for --backbone)")
    parser.add_argument('--backbone',
                        help='backbone type: SHViT, CSWin, HarmoVision, '
                        'HAMViT')
    parser.add_argument('--arch', help='backbone arch (e.g. s1, t, n, base)')
    parser.add_argument('--out-indices', type=int, nargs='+',
                        help='backbone outputs to export (default: the '
                        "backbone's own default)")
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224],
                        metavar=('H', 'W'), help='input height and width')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--opset', type=int, default=17,
                        help='ONNX opset version (default 17)')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch, height and width axes')
    parser.add_argument('--dynamic-batch-only', action='store_true',
                        help='with --dynamic: only the batch axis is dynamic')
    parser.add_argument('--check-shape', type=int, nargs=2,
                        metavar=('H', 'W'),
                        help='second input size of the dynamic parity check '
                        '(default: H+32, W+32)')
    parser.add_argument('--no-deploy', action='store_true',
                        help='do not call switch_to_deploy()')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the onnxruntime parity check')
    parser.add_argument('--tol', type=float, default=1e-3,
                        help='largest relative error the check accepts')
    parser.add_argument('--dynamo', action='store_true',
                        help='use the dynamo exporter (needs onnxscript)')
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


# --------------------------------------------------------------- building --
def _check_file(path, what='checkpoint'):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}')


def build_backbone(name, arch=None, out_indices=None, checkpoint=None):
    """A bare mmhybrid backbone whose outputs are a flat tuple; a checkpoint
    (any layout the backbone's ``init_cfg`` Pretrained loader reads,
    ``backbone.*`` keys included) is loaded by that checked loader: nothing
    is loaded partially."""
    from mmhybrid.models import backbones
    if name not in backbones.__all__:
        raise ExportError(f'Unknown backbone {name!r}; mmhybrid backbones '
                          f'are {sorted(backbones.__all__)}')
    if checkpoint is not None:
        _check_file(checkpoint)
    options = {}
    if out_indices is not None:
        options['out_indices'] = tuple(out_indices)
    model = build_model(backbone=name, arch=arch, checkpoint=checkpoint,
                        cfg_options=options)
    return TensorForward(model, output='tuple')


def build_classifier(config, checkpoint=None):
    """The logits of a classifier config (``model(x, mode='tensor')``) as a
    1-tuple."""
    _check_file(config, 'config')
    if checkpoint is not None:
        _check_file(checkpoint)
    cfg = load_config(config)
    task = config_task(cfg)
    if task != 'classification':
        raise ExportError(
            f'{config} is a {task} config; only classifier configs are '
            'exported whole. Export its backbone with --backbone TYPE '
            '--arch ARCH --checkpoint CKPT (backbone.* keys are used).')
    cfg.model.pop('train_cfg', None)  # Mixup/CutMix play no part at test
    return TensorForward(build_model(cfg, checkpoint=checkpoint),
                         output='tuple')


def randomize_norms(model, seed=0):
    """Give every BatchNorm random statistics and affine parameters, so
    that a parity check of a randomly initialised model also tests the
    BN folding of ``switch_to_deploy()`` (fresh BNs are the identity)."""
    g = torch.Generator().manual_seed(seed)
    n = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and \
                m.running_mean is not None:
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            if m.affine:
                m.weight.data.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
                m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)
            n += 1
    return n


# --------------------------------------------------------------- export --
_OP_PATTERNS = [
    r"running (\w+ node\. Name:'[^']*')",
    r"operator '([\w:.]+)'",
    r'ONNX export of operator ([\w ]+?)[,.]',
    r'(aten::\w+(?:\.\w+)?)',
    r'(prim::\w+)',
    r"op_type:?\s*'?(\w+)'?",
    r'NOT_IMPLEMENTED.*?(\w+)\(',
]


def _short(msg, n=400):
    msg = msg.strip().splitlines()[0] if msg.strip() else msg
    return msg if len(msg) <= n else msg[:n] + '...'


def failing_op(msg):
    """The operator an export or onnxruntime error names, if any."""
    for pat in _OP_PATTERNS:
        m = re.search(pat, msg)
        if m:
            return m.group(1)
    return None


def export(model, x, out, opset=17, dynamic=False, batch_only=False,
           dynamo=False):
    """Export ``model`` (returning a tuple of tensors) on input ``x``."""
    with torch.no_grad():
        outs = model(x)
    output_names = [f'output{i}' for i in range(len(outs))]
    dynamic_axes = None
    if dynamic:
        axes = {0: 'batch'} if batch_only else {
            0: 'batch', 2: 'height', 3: 'width'}
        dynamic_axes = {'input': axes}
        for name, o in zip(output_names, outs):
            dynamic_axes[name] = {0: 'batch'} if (
                batch_only or o.dim() != 4) else {
                    0: 'batch', 2: f'{name}_h', 3: f'{name}_w'}
    d = osp.dirname(osp.abspath(out))
    os.makedirs(d, exist_ok=True)
    kwargs = dict(input_names=['input'], output_names=output_names,
                  opset_version=opset, dynamic_axes=dynamic_axes,
                  do_constant_folding=True)
    if dynamo:
        try:
            import onnxscript  # noqa: F401
        except ImportError as e:
            raise ExportError('--dynamo needs the onnxscript package, which '
                              'is not installed; drop --dynamo to use the '
                              'legacy TorchScript exporter') from e
        kwargs['dynamo'] = True
        kwargs['external_data'] = False
    else:
        kwargs['dynamo'] = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.onnx.export(model, (x, ), out, **kwargs)
    except Exception as e:  # noqa: BLE001
        msg = f'{type(e).__name__}: {e}'
        op = failing_op(msg)
        where = f' at op {op}' if op else ''
        raise ExportError(f'ONNX export (opset {opset}) failed{where}: '
                          f'{_short(msg)}') from e
    return output_names


def run_onnx(path, x):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 4  # the error is raised below, once
    try:
        sess = ort.InferenceSession(path, so,
                                    providers=['CPUExecutionProvider'])
        return sess.run(None, {'input': x.numpy()})
    except Exception as e:  # noqa: BLE001
        msg = str(e)
        op = failing_op(msg)
        where = f' (op {op})' if op else ''
        raise ExportError(f'onnxruntime cannot run {path} at input '
                          f'{tuple(x.shape)}{where}: '
                          f'{_short(msg) if msg else repr(e)}') from e


def parity(model, path, x):
    """Per-output ``(max_abs_err, rel_err)`` of ONNX vs PyTorch on ``x``."""
    with torch.no_grad():
        ref = [o.numpy() for o in model(x)]
    got = run_onnx(path, x)
    if len(got) != len(ref):
        raise ExportError(f'ONNX gives {len(got)} outputs, PyTorch '
                          f'{len(ref)}')
    errs = []
    for r, g in zip(ref, got):
        if r.shape != g.shape:
            raise ExportError(f'output shape {g.shape} from ONNX, '
                              f'{r.shape} from PyTorch at input '
                              f'{tuple(x.shape)}')
        a = float(np.abs(r - g).max()) if r.size else 0.
        scale = float(np.abs(r).max()) if r.size else 0.
        errs.append((a, a / max(scale, 1e-12)))
    return errs


def report(tag, x, errs):
    for i, (a, r) in enumerate(errs):
        print(f'[parity] {tag} input {tuple(x.shape)} output{i}: '
              f'max abs err {a:.3e}, rel err {r:.3e}')


def _export_and_check(model, x, args, name, deployed, batch_only):
    """Export, then check parity; return the worst relative error (None
    with --no-check)."""
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
    errs = parity(model, args.out, x)
    report('static', x, errs)
    worst = max(r for _, r in errs)
    if args.dynamic:
        b2, (_, _, h, w) = x.shape[0] + 1, x.shape
        h2, w2 = (h, w) if batch_only else (args.check_shape
                                            or (h + 32, w + 32))
        x2 = torch.randn(b2, 3, h2, w2)
        errs = parity(model, args.out, x2)
        report('dynamic', x2, errs)
        worst = max([worst] + [r for _, r in errs])
    return worst


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    try:
        if args.backbone:
            model = build_backbone(args.backbone, args.arch,
                                   args.out_indices, args.checkpoint)
            name = f'{args.backbone}' + (f'-{args.arch}' if args.arch
                                         else '')
        else:
            model = build_classifier(args.config, args.checkpoint)
            name = osp.splitext(osp.basename(args.config))[0]
        if args.checkpoint is None:
            randomize_norms(model, args.seed)
        model.eval()
        deployed = [] if args.no_deploy else switch_to_deploy(model)
        model.eval()
        h, w = args.shape
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
    except (ExportError, FileNotFoundError) as e:
        print(f'Error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
