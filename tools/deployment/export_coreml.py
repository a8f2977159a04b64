"""Export an mmhybrid backbone or ImageNet classifier to Core ML (an ML
program, ``.mlpackage``) with coremltools, as SHViT's own ``export_model.py``
does for its iPhone latency.

    # a bare backbone (random init unless --checkpoint), deploy form
    python tools/deployment/export_coreml.py --backbone SHViT --arch s4 \\
        --shape 256 256   # -> work_dirs/coreml/shvit_s4_256x256.mlpackage
    # a classifier config: its logits (``model(x, mode='tensor')``)
    python tools/deployment/export_coreml.py configs/imagenet_shvit_s4.py \\
        --checkpoint shvit_s4.pth --shape 256 256 --out shvit_s4_cls.mlpackage

Phases (on stderr): build (through ``mmhybrid.apis.build_model``; a
checkpoint goes through the checked, safe loader), deploy
(``mmhybrid.deploy.switch_to_deploy``: Conv+BN fusion, BN folding of
the heads), trace (``torch.jit.trace`` at 1x3xHxW), convert
(``coremltools.convert(..., convert_to='mlprogram')``), save, verify.

Verify reloads the package with ``coremltools.models.MLModel(path,
skip_model_load=True)`` and checks that its spec is an ML program whose
input and output names and shapes are those of the traced model. That is
all Linux allows: coremltools compiles and runs a Core ML model only on
macOS, so this tool measures no prediction parity with PyTorch.

The input is named ``input`` (float32, 1x3xHxW, the normalised image); the
outputs are ``logits`` for a classifier and ``output0``, ``output1``, ...
(one per backbone output) for a backbone. Exit status: 0 written and
verified; 1 a user's mistake (a missing file, an unknown backbone, a config
of another task, a checkpoint refused by the loader, coremltools not
installed); 2 the model cannot be traced or converted (the message names the
failing op) or the reloaded package does not match.
"""
import argparse
import contextlib
import logging
import os
import os.path as osp
import re
import sys
import time
import warnings

import numpy as np
import torch

from mmhybrid.apis import (TensorForward, add_trust_arg, apply_trust_arg,
                           build_model, config_task, load_config, run_cli)
from mmhybrid.deploy import switch_to_deploy

PROG = 'tools/deployment/export_coreml.py'
INPUT_NAME = 'input'
NO_PARITY = ('prediction parity: NOT measured. coremltools cannot compile '
             'or run a Core ML model off macOS; run MLModel(path).predict() '
             'on a Mac to compare with PyTorch.')


class UsageError(ValueError):
    """A user's mistake that ``run_cli`` does not know (exit 1)."""


class ConversionError(RuntimeError):
    """The model cannot be traced, converted or verified (exit 2)."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export an mmhybrid backbone or classifier (deploy form) '
        'to a Core ML ML program (.mlpackage) with coremltools.')
    parser.add_argument('config', nargs='?',
                        help='classifier config (configs/imagenet_*.py); '
                        'omit it and give --backbone for a bare backbone')
    parser.add_argument('--checkpoint', help='checkpoint to load (a full '
                        'model for a config; a backbone state dict or a '
                        "checkpoint with 'backbone.' keys for --backbone)")
    parser.add_argument('--backbone', help='backbone type: SHViT, CSWin, '
                        'HarmoVision, HAMViT')
    parser.add_argument('--arch', help='backbone arch (e.g. s1, t, n)')
    parser.add_argument('--out-indices', type=int, nargs='+',
                        help='backbone outputs to export (default: the '
                        "backbone's own default)")
    parser.add_argument('--shape', type=int, nargs=2, default=[256, 256],
                        metavar=('H', 'W'),
                        help='input height and width (default 256 256, as '
                        "SHViT's export_model.py)")
    parser.add_argument('--precision', choices=['float16', 'float32'],
                        default='float16',
                        help='compute precision of the ML program '
                        "(default float16, coremltools' default; inputs and "
                        'outputs stay float32)')
    parser.add_argument('--no-deploy', action='store_true',
                        help='do not call switch_to_deploy()')
    parser.add_argument('--out', help='output .mlpackage (default: '
                        'work_dirs/coreml/NAME_HxW.mlpackage)')
    add_trust_arg(parser)
    args = parser.parse_args(argv)
    if (args.config is None) == (args.backbone is None):
        parser.error('give either a CONFIG or --backbone TYPE (not both)')
    if args.config is not None and (args.arch or args.out_indices):
        parser.error('--arch/--out-indices go with --backbone; set them in '
                     'the config for a classifier')
    if args.out is None:
        name = (f'{args.backbone}' + (f'_{args.arch}' if args.arch else '')
                if args.backbone else
                osp.splitext(osp.basename(args.config))[0])
        h, w = args.shape
        args.out = osp.join('work_dirs', 'coreml',
                            f'{name.lower()}_{h}x{w}.mlpackage')
    if not args.out.endswith('.mlpackage'):
        parser.error(f'--out must be a .mlpackage, got {args.out!r}')
    if min(args.shape) < 1:
        parser.error(f'--shape must be positive, got {args.shape}')
    return args


def phase(name, msg):
    print(f'[{name}] {msg}', file=sys.stderr, flush=True)


def import_coremltools():
    """coremltools, quietly: it logs at import that its native runtime
    (macOS only) is missing and that it has not been tested with this
    torch (the convert phase prints the torch version)."""
    logging.getLogger('coremltools').setLevel(logging.ERROR)
    try:
        import coremltools as ct
    except ImportError as e:
        raise UsageError('coremltools is not installed: run `make install` '
                         'or `pip install coremltools`') from e
    return ct


# --------------------------------------------------------------- building --
def _check_file(path, what):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}')


def build(args):
    """The model as ``forward(x) -> tuple of tensors`` and its output
    names."""
    if args.checkpoint is not None:
        _check_file(args.checkpoint, 'Checkpoint')
    if args.backbone:
        from mmhybrid.models import backbones
        if args.backbone not in backbones.__all__:
            raise UsageError(f'unknown backbone {args.backbone!r}; mmhybrid '
                             f'backbones are {sorted(backbones.__all__)}')
        options = {}
        if args.out_indices is not None:
            options['out_indices'] = tuple(args.out_indices)
        model = build_model(backbone=args.backbone, arch=args.arch,
                            checkpoint=args.checkpoint,
                            cfg_options=options)
        return TensorForward(model, output='tuple'), None
    _check_file(args.config, 'Config')
    task = config_task(load_config(args.config))
    if task != 'classification':
        raise UsageError(
            f'{args.config} is a {task} config; only classifier configs are '
            'exported whole. Export its backbone with --backbone TYPE --arch '
            'ARCH --checkpoint CKPT (backbone.* keys are used).')
    model = build_model(args.config, checkpoint=args.checkpoint)
    return TensorForward(model, output='tuple'), ['logits']


# ----------------------------------------------------------- converting --
def failing_op(exc):
    """``(op, where)`` of the TorchScript node coremltools was converting
    when ``exc`` was raised (from the converter's own frames), else the op
    its message names, else ``(None, None)``."""
    node = None
    tb = exc.__traceback__
    while tb is not None:  # the innermost frame converting a node wins
        cand = tb.tb_frame.f_locals.get('node')
        if cand is not None and isinstance(getattr(cand, 'kind', None), str):
            node = cand
        tb = tb.tb_next
    if node is not None:
        where = None
        try:
            where = '/'.join(node.get_scope_info()[0]) or None
        except Exception:  # noqa: BLE001  (the scope is a nicety)
            pass
        return node.kind, where
    m = re.search(r"op '([\w:.]+)'", str(exc))
    return (m.group(1), None) if m else (None, None)


@contextlib.contextmanager
def torch_op_fixes():
    """Converters for three TorchScript ops that coremltools 9.0 cannot
    convert here, put in its torch op registry (what its documented
    ``register_torch_op(override=True)`` does) for the duration of one
    conversion and taken out afterwards:

    - ``int`` (``aten::Int``, a traced ``int(C // 2)`` of a shape): its
      converter calls ``int()`` on a 1-element array, which NumPy >= 2.4
      refuses ("only 0-dimensional arrays can be converted to Python
      scalars"). CSWin and HarmoVision trace such shape arithmetic.
    - ``view_as`` has no converter (HAMViT's HAM mask): a reshape to the
      other tensor's shape.
    - ``upsample_bicubic2d`` has none either, and Core ML has no bicubic
      resize. HAMViT traces one to its trained size (the position
      embedding, so that ONNX follows the input size); at the same size it
      is the identity, and that is all this converter does. A bicubic
      resize to another size still fails, naming the op.
    """
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch import ops
    from coremltools.converters.mil.frontend.torch.torch_op_registry import \
        _TORCH_OPS_REGISTRY as registry
    table = registry.name_to_func_mapping
    original_int = table['int']

    def int_(context, node):
        x = ops._get_inputs(context, node, expected=1)[0]
        if x.can_be_folded_to_const() and np.size(x.val) == 1:
            value = int(np.asarray(x.val).reshape(-1)[0])
            context.add(mb.const(val=value, name=node.name), node.name)
        else:
            original_int(context, node)

    def view_as(context, node):
        x, other = ops._get_inputs(context, node, expected=2)
        context.add(mb.reshape(x=x, shape=mb.shape(x=other), name=node.name))

    def upsample_bicubic2d(context, node):
        inputs = ops._get_inputs(context, node, min_expected=2)
        x, size = inputs[0], inputs[1]
        hw = tuple(x.shape[-2:])
        out = None
        if size is not None and size.val is not None:
            out = tuple(int(v) for v in np.asarray(size.val).reshape(-1))
        elif len(inputs) == 4 and inputs[3] is not None and \
                inputs[3].val is not None and \
                all(float(f) == 1. for f in np.asarray(inputs[3].val)):
            out = hw
        static = all(isinstance(d, (int, np.integer)) for d in hw)
        if out != hw or not static:
            raise NotImplementedError(
                f"PyTorch convert function for op 'upsample_bicubic2d' not "
                f'implemented: Core ML has no bicubic resize ({hw} -> {out})')
        context.add(mb.identity(x=x, name=node.name), node.name)

    fixes = dict(int=int_, view_as=view_as,
                 upsample_bicubic2d=upsample_bicubic2d)
    saved = {name: table.get(name) for name in fixes}
    table.update(fixes)
    try:
        yield
    finally:
        for name, func in saved.items():
            if func is None:
                table.pop(name, None)
            else:
                table[name] = func


def _short(msg, n=300):
    msg = msg.strip().splitlines()[0] if msg.strip() else msg
    return msg if len(msg) <= n else msg[:n] + '...'


def trace(model, x):
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            traced = torch.jit.trace(model, x)
            outs = traced(x)
    except Exception as e:  # noqa: BLE001
        raise ConversionError(f'torch.jit.trace failed at input '
                              f'{tuple(x.shape)}: {type(e).__name__}: '
                              f'{_short(str(e))}') from e
    return traced, list(outs)


def convert(ct, traced, x, names, precision):
    precision = (ct.precision.FLOAT16 if precision == 'float16' else
                 ct.precision.FLOAT32)
    try:
        with warnings.catch_warnings(), torch_op_fixes():
            warnings.simplefilter('ignore')
            return ct.convert(
                traced, convert_to='mlprogram',
                inputs=[ct.TensorType(name=INPUT_NAME, shape=x.shape)],
                outputs=[ct.TensorType(name=n) for n in names],
                compute_precision=precision)
    except Exception as e:  # noqa: BLE001
        op, where = failing_op(e)
        at = f" at op '{op}'" if op else ''
        at += f' (in {where})' if where else ''
        raise ConversionError(
            f'coremltools {ct.__version__} cannot convert the model{at}: '
            f'{type(e).__name__}: {_short(str(e)) or "no message"}') from e


def package_size(path):
    return sum(osp.getsize(osp.join(d, f)) for d, _, files in os.walk(path)
               for f in files)


def _spec_io(features):
    return [(f.name, tuple(int(s) for s in f.type.multiArrayType.shape))
            for f in features]


def verify(ct, path, x, names, outs):
    """Reload ``path`` (spec only: Linux cannot compile it) and check that
    it is an ML program with the traced model's input/output names and
    shapes. Returns ``(inputs, outputs)`` as ``[(name, shape)]``."""
    mlmodel = ct.models.MLModel(path, skip_model_load=True)
    spec = mlmodel.get_spec()
    kind = spec.WhichOneof('Type')
    if kind != 'mlProgram':
        raise ConversionError(f'{path} holds a {kind!r}, not an mlProgram')
    inputs = _spec_io(spec.description.input)
    outputs = _spec_io(spec.description.output)
    want_in = [(INPUT_NAME, tuple(x.shape))]
    want_out = [(n, tuple(o.shape)) for n, o in zip(names, outs)]
    if inputs != want_in or outputs != want_out:
        raise ConversionError(
            f'the reloaded package does not match the traced model: inputs '
            f'{inputs} vs {want_in}, outputs {outputs} vs {want_out}')
    return inputs, outputs


def run(args):
    t0 = time.time()
    ct = import_coremltools()
    name = (f'{args.backbone}' + (f'-{args.arch}' if args.arch else '')
            if args.backbone else osp.splitext(osp.basename(args.config))[0])
    phase('build', f'{name}' + (f' from {args.checkpoint}' if
                                args.checkpoint else ' (random weights)'))
    model, names = build(args)
    model.eval()
    if args.no_deploy:
        phase('deploy', 'skipped (--no-deploy)')
    else:
        done = switch_to_deploy(model)
        model.eval()
        phase('deploy', 'switched: ' + (', '.join(done) or 'nothing to '
                                         'switch'))
    h, w = args.shape
    x = torch.rand(1, 3, h, w)
    phase('trace', f'torch.jit.trace at {tuple(x.shape)}')
    traced, outs = trace(model, x)
    names = names or [f'output{i}' for i in range(len(outs))]
    phase('convert', f'coremltools {ct.__version__} (torch '
          f'{torch.__version__}), ML program, {args.precision}')
    mlmodel = convert(ct, traced, x, names, args.precision)
    mlmodel.short_description = f'mmhybrid {name}, input {h}x{w}'
    phase('save', args.out)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    mlmodel.save(args.out)
    phase('verify', 'reload with skip_model_load=True, compare the spec')
    inputs, outputs = verify(ct, args.out, x, names, outs)
    size = package_size(args.out) / 2**20
    print(f'Exported {name} to {args.out} ({size:.1f} MiB, ML program, '
          f'{args.precision}, deploy form: {not args.no_deploy}) in '
          f'{time.time() - t0:.0f} s')
    for what, io in (('input', inputs), ('output', outputs)):
        for n, s in io:
            print(f'  {what} {n}: {list(s)}')
    print('  reloaded: the spec matches the traced model (names, shapes)')
    print(f'  {NO_PARITY}')


def main(argv=None):
    args = parse_args(argv)
    try:
        with apply_trust_arg(args, args.checkpoint):
            return run_cli(lambda: run(args), PROG)
    except UsageError as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 1
    except ConversionError as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
