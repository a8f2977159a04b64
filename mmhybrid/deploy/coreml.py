"""Export an mmhybrid backbone or ImageNet classifier to Core ML (an ML
program, ``.mlpackage``) with coremltools, as SHViT's own ``export_model.py``
does for its iPhone latency (the library of
``tools/deployment/export_coreml.py``).

Phases: build (through ``mmhybrid.apis.build_model``; a checkpoint goes
through the checked, safe loader), deploy (``switch_to_deploy``: Conv+BN
fusion, BN folding of the heads), trace (``torch.jit.trace`` at 1x3xHxW),
convert (``coremltools.convert(..., convert_to='mlprogram')``), save,
verify.

Verify reloads the package with ``coremltools.models.MLModel(path,
skip_model_load=True)`` and checks that its spec is an ML program whose
input and output names and shapes are those of the traced model. That is
all Linux allows: coremltools compiles and runs a Core ML model only on
macOS, so no prediction parity with PyTorch is measured.

The input is named ``input`` (float32, 1x3xHxW, the normalised image); the
outputs are ``logits`` for a classifier and ``output0``, ``output1``, ...
(one per backbone output) for a backbone. coremltools is imported only when
an export runs.
"""
import contextlib
import logging
import os
import os.path as osp
import re
import time
import warnings

import numpy as np
import torch

from mmhybrid.apis import TensorForward, build_model, config_task, load_config
from mmhybrid.deploy.passes import switch_to_deploy

INPUT_NAME = 'input'
NO_PARITY = ('prediction parity: NOT measured. coremltools cannot compile '
             'or run a Core ML model off macOS; run MLModel(path).predict() '
             'on a Mac to compare with PyTorch.')


class UsageError(ValueError):
    """A user's mistake: an unknown backbone, a config of another task,
    coremltools not installed."""


class ConversionError(RuntimeError):
    """The model cannot be traced, converted or verified (the message names
    the failing op)."""


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


def build(config=None, backbone=None, arch=None, out_indices=None,
          checkpoint=None):
    """The model as ``forward(x) -> tuple of tensors`` and its output names
    (``None``: ``output0``, ``output1``, ...)."""
    if checkpoint is not None:
        _check_file(checkpoint, 'Checkpoint')
    if backbone:
        from mmhybrid.models import backbones
        if backbone not in backbones.__all__:
            raise UsageError(f'unknown backbone {backbone!r}; mmhybrid '
                             f'backbones are {sorted(backbones.__all__)}')
        options = {}
        if out_indices is not None:
            options['out_indices'] = tuple(out_indices)
        model = build_model(backbone=backbone, arch=arch,
                            checkpoint=checkpoint, cfg_options=options)
        return TensorForward(model, output='tuple'), None
    _check_file(config, 'Config')
    task = config_task(load_config(config))
    if task != 'classification':
        raise UsageError(
            f'{config} is a {task} config; only classifier configs are '
            'exported whole. Export its backbone with --backbone TYPE --arch '
            'ARCH --checkpoint CKPT (backbone.* keys are used).')
    model = build_model(config, checkpoint=checkpoint)
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


def spec_io(features):
    """``[(name, shape)]`` of a Core ML spec's input or output features."""
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
    inputs = spec_io(spec.description.input)
    outputs = spec_io(spec.description.output)
    want_in = [(INPUT_NAME, tuple(x.shape))]
    want_out = [(n, tuple(o.shape)) for n, o in zip(names, outs)]
    if inputs != want_in or outputs != want_out:
        raise ConversionError(
            f'the reloaded package does not match the traced model: inputs '
            f'{inputs} vs {want_in}, outputs {outputs} vs {want_out}')
    return inputs, outputs

def export_coreml(out, config=None, backbone=None, arch=None,
                  out_indices=None, checkpoint=None, shape=(256, 256),
                  precision='float16', deploy=True, log=None):
    """Export a classifier ``config`` or a bare ``backbone`` to the ML
    program ``out`` (``.mlpackage``) and verify the reloaded spec. ``log``
    (``log(phase, message)``) hears each phase. Returns ``dict(name, out,
    inputs, outputs, size_mib, seconds, precision, deploy)``."""
    log = log or (lambda phase, msg: None)
    t0 = time.time()
    ct = import_coremltools()
    name = (f'{backbone}' + (f'-{arch}' if arch else '') if backbone
            else osp.splitext(osp.basename(config))[0])
    log('build', f'{name}' + (f' from {checkpoint}' if checkpoint
                              else ' (random weights)'))
    model, names = build(config, backbone, arch, out_indices, checkpoint)
    model.eval()
    if not deploy:
        log('deploy', 'skipped (--no-deploy)')
    else:
        done = switch_to_deploy(model)
        model.eval()
        log('deploy', 'switched: ' + (', '.join(done) or 'nothing to '
                                       'switch'))
    h, w = shape
    x = torch.rand(1, 3, h, w)
    log('trace', f'torch.jit.trace at {tuple(x.shape)}')
    traced, outs = trace(model, x)
    names = names or [f'output{i}' for i in range(len(outs))]
    log('convert', f'coremltools {ct.__version__} (torch '
        f'{torch.__version__}), ML program, {precision}')
    mlmodel = convert(ct, traced, x, names, precision)
    mlmodel.short_description = f'mmhybrid {name}, input {h}x{w}'
    log('save', out)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    mlmodel.save(out)
    log('verify', 'reload with skip_model_load=True, compare the spec')
    inputs, outputs = verify(ct, out, x, names, outs)
    return dict(name=name, out=out, inputs=inputs, outputs=outputs,
                size_mib=package_size(out) / 2**20,
                seconds=time.time() - t0, precision=precision,
                deploy=deploy)
