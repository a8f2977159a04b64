"""Export an mmhybrid model to ONNX: a bare backbone or a classifier (tensor
outputs, ``torch.onnx.export``), or a whole detector or segmentor through
mmdeploy 1.3.1 (its rewriters and a deploy config built here, plus
mmhybrid's mends in :mod:`.rewriters`), with standard ONNX ops only so that
stock onnxruntime runs the file.

Whole models follow mmdeploy's convention, so its SDK and users' code read
them: the input ``input`` is the data preprocessor's output (normalised
NCHW); a detector gives ``dets`` (B x N x 5: x1, y1, x2, y2, score, in the
input's pixels), ``labels`` (B x N) and, with a mask head, ``masks``
(B x N x H x W probabilities pasted at the input size); a segmentor gives
``output``, the class map (B x 1 x H x W).

mmdeploy, onnx and onnxruntime are imported inside the functions that use
them: importing this module costs nothing and changes nothing.
"""
import copy
import importlib
import importlib.util
import os
import os.path as osp
import warnings
from contextlib import contextmanager

import torch
import torch.nn as nn

from mmhybrid.apis import (TensorForward, build_model, config_task,
                           load_config)
from mmhybrid.deploy.passes import switch_to_deploy

from .session import (ExportError, _short, failing_op, onnx_session,
                      run_session)

#: tasks exported whole through mmdeploy, and mmdeploy's codebase for each
MMDEPLOY_TASKS = {'detection': ('mmdet', 'ObjectDetection'),
                  'segmentation': ('mmseg', 'Segmentation')}
DEFAULT_OPSET = 17


def nonstandard_ops(path):
    """``['domain::Op', ...]`` of every node of the ONNX file outside the
    standard domains (``''``/``ai.onnx``), which stock onnxruntime cannot
    run without a custom-op library."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    found = set()
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            if node.domain not in ('', 'ai.onnx'):
                found.add(f'{node.domain}::{node.op_type}')
            for attr in node.attribute:
                graphs.extend([attr.g] if attr.HasField('g') else [])
                graphs.extend(attr.graphs)
    return sorted(found)


# --------------------------------------------------- backbone, classifier --
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
        raise ExportError(f'{config} is a {task} config: export it whole '
                          'with export_model()')
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


def export(model, x, out, opset=DEFAULT_OPSET, dynamic=False,
           batch_only=False, dynamo=False):
    """Export ``model`` (returning a tuple of tensors) on input ``x`` with
    ``torch.onnx.export``; returns the output names."""
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
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    kwargs = dict(input_names=['input'], output_names=output_names,
                  opset_version=opset, dynamic_axes=dynamic_axes,
                  do_constant_folding=True)
    if dynamo:
        if importlib.util.find_spec('onnxscript') is None:
            raise ExportError('--dynamo needs the onnxscript package, which '
                              'is not installed; drop --dynamo to use the '
                              'legacy TorchScript exporter')
        kwargs.update(dynamo=True, external_data=False)
    else:
        kwargs['dynamo'] = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.onnx.export(model, (x, ), out, **kwargs)
    except Exception as e:  # noqa: BLE001
        raise _export_error(e, f'opset {opset}') from e
    return output_names


def run_onnx(path, x):
    """Outputs of the ONNX file ``path`` on ``x`` with onnxruntime (one
    thread); an error names the op and the input shape."""
    return run_session(onnx_session(path, threads=1), x)


def tensor_parity(model, path, x):
    """Per-output ``(max_abs_err, rel_err)`` of the ONNX file of a tensor
    model (:func:`export`) against ``model`` on ``x``; the relative error is
    ``max|onnx - torch| / max|torch|``."""
    import numpy as np
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


def _export_error(e, what):
    msg = f'{type(e).__name__}: {e}'
    op = failing_op(msg)
    where = f' at op {op}' if op else ''
    return ExportError(f'ONNX export ({what}) failed{where}: {_short(msg)}')


# -------------------------------------------------------- whole models --
def model_outputs(model, task):
    """mmdeploy's output names of a whole model."""
    if task == 'segmentation':
        return ['output']
    roi_head = getattr(model, 'roi_head', None)
    if roi_head is not None and getattr(roi_head, 'with_mask', False):
        return ['dets', 'labels', 'masks']
    if getattr(model, 'mask_head', None) is not None:
        return ['dets', 'labels', 'masks']
    return ['dets', 'labels']


def build_deploy_config(cfg, output_names, opset=DEFAULT_OPSET,
                        dynamic=False, shape=None):
    """An mmdeploy deploy config (``onnx_config``, ``codebase_config``,
    ``backend_config`` for onnxruntime) for the model config ``cfg``.

    Detectors keep their config's own test-time NMS and score thresholds
    (mmdeploy reads them from ``test_cfg``; the values here are only its
    fall-backs) and paste masks at the input size
    (``export_postprocess_mask``); segmentors give the class map
    (``with_argmax``)."""
    from mmengine import Config
    task = config_task(cfg)
    if task not in MMDEPLOY_TASKS:
        raise ExportError(f'{cfg.filename}: a {task} model is exported as '
                          'tensors (export()), not through mmdeploy')
    codebase, task_name = MMDEPLOY_TASKS[task]
    # the number of detections is data: a dynamic axis even in a static
    # export (mmdeploy reads only the input's axes for static/dynamic)
    image = {0: 'batch', 2: 'height', 3: 'width'} if dynamic else {}
    per_det = {1: 'num_dets', **({0: 'batch'} if dynamic else {})}
    axes = dict(input=image, output=image, dets=per_det, labels=per_det,
                masks={**per_det, **({2: 'height', 3: 'width'}
                                     if dynamic else {})})
    dynamic_axes = {name: axes[name] for name in ['input', *output_names]
                    if axes[name]} or None
    if codebase == 'mmdet':
        test_cfg = cfg.model.get('test_cfg') or {}
        rcnn = test_cfg.get('rcnn', test_cfg)
        keep = rcnn.get('max_per_img', 100)
        codebase_config = dict(
            type='mmdet', task=task_name, model_type='end2end',
            post_processing=dict(
                score_threshold=rcnn.get('score_thr', 0.05),
                confidence_threshold=0.005,
                iou_threshold=rcnn.get('nms', {}).get('iou_threshold', 0.5),
                # at most keep_top_k survive: enough for mmdet's per-class NMS
                max_output_boxes_per_class=keep,
                pre_top_k=-1, keep_top_k=keep, background_label_id=-1,
                export_postprocess_mask=True))
    else:
        codebase_config = dict(type='mmseg', task=task_name,
                               with_argmax=True)
    return Config(dict(
        onnx_config=dict(
            type='onnx', export_params=True,
            keep_initializers_as_inputs=False, opset_version=opset,
            save_file='end2end.onnx', input_names=['input'],
            output_names=list(output_names),
            input_shape=None if shape is None else [shape[1], shape[0]],
            optimize=False, dynamic_axes=dynamic_axes),
        codebase_config=codebase_config,
        backend_config=dict(type='onnxruntime')))


@contextmanager
def _predict_forward(model, data_samples):
    """``model(input)`` runs ``model(input, data_samples, mode='predict')``
    while entered (what is traced; mmdeploy's rewriters turn the prediction
    into tensors), as ``mmdeploy.apis.onnx.export`` does."""
    forward = model.forward

    def predict(x):
        return forward(x, data_samples, mode='predict')

    model.forward = predict
    try:
        yield model
    finally:
        del model.forward  # the class's forward again


def task_processor(cfg, deploy_cfg):
    """mmdeploy's task processor of ``cfg`` (its data pipeline, backend
    model and input creation)."""
    from mmdeploy.apis import build_task_processor
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return build_task_processor(cfg, deploy_cfg, 'cpu')


def sample_image():
    """A real photograph shipped with matplotlib (Grace Hopper, 512 x 600):
    parity is checked on it, not only on noise."""
    from matplotlib import cbook
    return cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)


def create_input(cfg, deploy_cfg, model, image=None, shape=None):
    """``(data, inputs)``: the test pipeline's batch of ``image`` (default:
    :func:`sample_image`) resized to ``shape`` (H, W; default: the config's
    own test resize) and the data preprocessor's output."""
    tp = task_processor(cfg, deploy_cfg)
    image = sample_image() if image is None else image
    size = None if shape is None else [int(shape[1]), int(shape[0])]
    with torch.no_grad():
        data, inputs = tp.create_input(
            image, size, data_preprocessor=model.data_preprocessor)
    if isinstance(inputs, (list, tuple)):
        inputs = inputs[0]
    return data, inputs


@contextmanager
def mmdeploy_context(deploy_cfg, opset):
    """mmdeploy's rewriters plus mmhybrid's (registered for the duration),
    for the onnxruntime backend."""
    # registers mmdeploy's exporter rewrites (autograd Functions such as
    # its NonMaxSuppression op export through their symbolic)
    importlib.import_module('mmdeploy.apis.onnx')
    from mmdeploy.core import RewriterContext
    from mmdeploy.utils import IR
    from .rewriters import mmdeploy_rewriters
    with mmdeploy_rewriters(), RewriterContext(
            cfg=deploy_cfg, backend='onnxruntime', opset=opset,
            ir=IR.ONNX), torch.no_grad():
        yield


class ExportResult(dict):
    """What :func:`export_model` did: ``path``, ``task``, ``output_names``,
    ``input_shape``, ``dynamic``, ``opset``, ``deployed`` (the modules
    switched to their deploy form), ``deploy_cfg``, ``cfg``, ``model`` (the
    form exported) and ``reference`` (the model as trained)."""

    __getattr__ = dict.__getitem__


def export_model(config, out, checkpoint=None, shape=None, dynamic=False,
                 opset=DEFAULT_OPSET, image=None, deploy=True,
                 cfg_options=None):
    """Export a whole detector or segmentor config through mmdeploy.

    Args:
        config (str | Config): an mmdet or mmseg config of mmhybrid.
        out (str): the ``.onnx`` file to write.
        checkpoint (str, optional): its trained weights.
        shape (tuple[int, int], optional): input height and width the
            image is resized to for tracing (default: the config's test
            resize); a static export runs at exactly this (padded) size.
        dynamic (bool): dynamic batch, height and width.
        opset (int): ONNX opset, at least 16 (standard ``RoiAlign`` with
            mmcv's half-pixel alignment, ``GridSample`` for mask pasting).
        image (str | ndarray, optional): the image traced (default:
            :func:`sample_image`).
        deploy (bool): switch the model to its deploy form first.

    Returns:
        ExportResult

    Raises:
        ExportError: naming the op, config or reason when the model cannot
            be exported with standard ops.
    """
    from .rewriters import MIN_OPSET
    if opset < MIN_OPSET:
        raise ExportError(f'whole-model export needs opset >= {MIN_OPSET} '
                          f'(standard RoiAlign and GridSample); got {opset}')
    cfg = load_config(config, cfg_options)
    task = config_task(cfg)
    if task not in MMDEPLOY_TASKS:
        raise ExportError(
            f'{cfg.filename} is a {task} config; whole-model export covers '
            f'{sorted(MMDEPLOY_TASKS)} configs (use export() for tensors)')
    model = build_model(cfg, checkpoint=checkpoint)
    reference = copy.deepcopy(model)  # as trained, for the parity check
    deployed = switch_to_deploy(model) if deploy else []
    model.eval()
    names = model_outputs(model, task)
    deploy_cfg = build_deploy_config(cfg, names, opset, dynamic, shape)
    data, inputs = create_input(cfg, deploy_cfg, model, image, shape)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    from mmdeploy.core import patch_model
    from mmdeploy.utils import IR
    patched = patch_model(model, cfg=deploy_cfg, backend='onnxruntime',
                          ir=IR.ONNX)
    name = osp.basename(cfg.filename or str(config))
    try:
        with mmdeploy_context(deploy_cfg, opset), \
                _predict_forward(patched, data['data_samples']), \
                warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.onnx.export(
                patched, (inputs, ), out,
                input_names=['input'], output_names=names,
                opset_version=opset,
                dynamic_axes=deploy_cfg.onnx_config.dynamic_axes,
                keep_initializers_as_inputs=False, do_constant_folding=True,
                dynamo=False)
    except Exception as e:  # noqa: BLE001
        raise _export_error(e, f'{name}, opset {opset}') from e
    bad = nonstandard_ops(out)
    if bad:
        raise ExportError(f'{name}: the ONNX graph uses non-standard ops '
                          f'{bad}, which stock onnxruntime cannot run')
    return ExportResult(path=out, task=task, output_names=names,
                        input_shape=tuple(inputs.shape), dynamic=dynamic,
                        opset=opset, deployed=deployed,
                        deploy_cfg=deploy_cfg, cfg=cfg, model=model,
                        reference=reference)
