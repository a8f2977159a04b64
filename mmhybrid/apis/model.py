"""The one way to build a model and run its tensor forward.

* :func:`build_model`: from a config of any of the three frameworks (its
  ``default_scope``), or from a registered backbone type and arch (a bare
  backbone, or a GAP + linear classifier when the caller needs logits), with
  an optional checkpoint loaded by the checked, safe loader.
* :class:`TensorForward`: ``x -> model(x, samples, mode='tensor')`` as a plain
  ``forward``, for timing, FLOP counting, ONNX export and gradient attacks.
* :func:`count_complexity`: params and FLOPs with mmengine's analyzer.

Used by every tool under ``tools/`` that builds a model.
"""
import importlib
import os.path as osp
import sys

import torch
import torch.nn as nn

from .explain import explain_errors
from .runner import TASKS, load_config

__all__ = ['TensorForward', 'build_model', 'count_complexity']


def _registry(scope):
    """The MODELS registry of ``scope`` ('mmhybrid' or a framework), with
    mmhybrid's modules and the framework's own registered."""
    import mmhybrid.models  # noqa: F401  (puts our modules in every registry)
    if scope == 'mmhybrid':
        from mmhybrid.registry import MODELS
        return MODELS
    package = TASKS[scope][1]
    importlib.import_module(f'{package}.utils').register_all_modules(
        init_default_scope=False)
    return importlib.import_module(f'{package}.registry').MODELS


def _build(model_cfg, scope):
    """Build ``model_cfg`` in ``scope`` as its default scope, without
    changing the caller's default scope."""
    from mmengine.registry import DefaultScope
    registry = _registry(scope)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(model_cfg)


def _checkpoint_prefix(checkpoint, prefix='backbone.'):
    """``prefix`` if the checkpoint's keys are a whole model's (the backbone
    under ``backbone.``), else None (a backbone's own state dict)."""
    from mmhybrid.models.utils import read_state_dict
    keys = read_state_dict(checkpoint)
    return prefix if any(k.startswith(prefix) for k in keys) else None


def _classifier_cfg(backbone_cfg, num_classes):
    """GAP + linear head over the last output of ``backbone_cfg``, with
    ImageNet normalisation."""
    from mmhybrid.visualization.model import IMAGENET_MEAN, IMAGENET_STD
    probe = _build(backbone_cfg, 'mmpretrain')
    in_channels = probe.feature_info[-1]['num_chs']
    return dict(
        type='ImageClassifier', backbone=backbone_cfg,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=in_channels),
        data_preprocessor=dict(
            type='ClsDataPreprocessor', mean=IMAGENET_MEAN, std=IMAGENET_STD,
            to_rgb=True, num_classes=num_classes))


def build_model(config=None, *, backbone=None, arch=None, checkpoint=None,
                cfg_options=None, num_classes=None, device='cpu'):
    """Build a model in eval mode on ``device``.

    Args:
        config (str | Config, optional): a config of mmdet, mmseg or
            mmpretrain (told by its ``default_scope``), read by
            :func:`load_config`. ``cfg.model`` is built in that scope; a
            top-level ``data_preprocessor`` is merged into it as mmengine's
            Runner does. The model keeps its config as ``model.cfg``.
        backbone (str, optional): instead of ``config``, a registered
            backbone type, e.g. ``'SHViT'``.
        arch (str | dict, optional): the backbone's ``arch``.
        checkpoint (str, optional): weights to load. A model (from a config,
            or a classifier) loads it with
            :func:`mmhybrid.models.utils.load_model_checkpoint`; a bare
            backbone with its ``init_cfg`` Pretrained loader (any layout the
            backbone converts; a whole model's ``backbone.*`` keys too).
            Both read the file safely and refuse one that does not fit.
        cfg_options (dict, optional): overrides: of the config (dotted keys,
            as ``--cfg-options``), or extra entries of the backbone's config
            (e.g. ``dict(out_indices=(3, ))``).
        num_classes (int, optional): with ``backbone``: build an mmpretrain
            ``ImageClassifier`` (GAP + linear head of ``num_classes``, ImageNet
            normalisation) instead of the bare backbone.
        device (str): where the model goes.

    Without a checkpoint a config's model keeps PyTorch's initialisation
    (as ``mmdet.apis.init_detector`` does); a model built from a backbone is
    initialised with ``init_weights()``.

    Example:
        >>> model = build_model('configs/imagenet_shvit_s1.py')
        >>> backbone = build_model(backbone='SHViT', arch='s1')
        >>> classifier = build_model(backbone='SHViT', arch='s1',
        ...                          num_classes=10)
    """
    if (config is None) == (backbone is None):
        raise ValueError('give a config or a backbone type (one of them)')
    if checkpoint is not None and '://' not in str(checkpoint) and \
            not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint file not found: {checkpoint!r}')
    from mmhybrid.models.utils import load_model_checkpoint
    if config is not None:
        cfg = load_config(config, cfg_options)
        model_cfg = cfg.model.copy()
        if cfg.get('data_preprocessor') is not None:
            model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
        with explain_errors(cfg):  # a mistake names its config key
            model = _build(model_cfg, cfg.default_scope)
        model.cfg = cfg
        if checkpoint is not None:
            load_model_checkpoint(model, checkpoint, require_finite=True)
        return model.to(device).eval()
    backbone_cfg = dict(type=backbone, **(cfg_options or {}))
    if arch is not None:
        backbone_cfg['arch'] = arch
    if num_classes is None:
        if checkpoint is not None:
            backbone_cfg['init_cfg'] = dict(
                type='Pretrained', checkpoint=checkpoint,
                prefix=_checkpoint_prefix(checkpoint))
        model = _build(backbone_cfg, 'mmhybrid')
        model.init_weights()
    else:
        model = _build(_classifier_cfg(backbone_cfg, num_classes),
                       'mmpretrain')
        model.init_weights()
        if checkpoint is not None:
            load_model_checkpoint(model, checkpoint, require_finite=True)
    return model.to(device).eval()


def _is_detector(model):
    if 'mmdet' not in sys.modules:  # no mmdet imported: no mmdet detector
        return False
    from mmdet.models.detectors import BaseDetector
    return isinstance(model, BaseDetector)


def _detection_samples(batch, hw):
    from mmdet.structures import DetDataSample
    h, w = hw
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                batch_input_shape=(h, w), scale_factor=(1., 1.))
    return [DetDataSample(metainfo=meta) for _ in range(batch)]


class TensorForward(nn.Module):
    """A model's tensor outputs as a plain ``forward(x)``.

    An OpenMMLab model (mmengine ``BaseModel``) is called as
    ``model(x, samples, mode='tensor')``: a detector gets one
    ``DetDataSample`` per image stating the input size, the others
    ``None``. Any other module (a bare backbone) is called as ``model(x)``.

    Args:
        model (nn.Module): the model.
        output (str): ``'raw'``: what the model returns; ``'tuple'``: a flat
            tuple of tensors (a single tensor becomes a 1-tuple; ONNX
            export); ``'last'``: the last output (a classifier's logits).
    """

    OUTPUTS = ('raw', 'tuple', 'last')

    def __init__(self, model, output='raw'):
        super().__init__()
        if output not in self.OUTPUTS:
            raise ValueError(f'output must be one of {self.OUTPUTS}, got '
                             f'{output!r}')
        from mmengine.model import BaseModel
        self.model = model
        self.output = output
        self._openmmlab = isinstance(model, BaseModel)
        self._detector = _is_detector(model)

    def forward(self, x):
        if not self._openmmlab:
            out = self.model(x)
        else:
            samples = None
            if self._detector:
                samples = _detection_samples(x.shape[0], x.shape[-2:])
            out = self.model(x, samples, mode='tensor')
        if self.output == 'tuple':
            return (out, ) if isinstance(out, torch.Tensor) else tuple(out)
        if self.output == 'last' and isinstance(out, (tuple, list)):
            return out[-1]
        return out


def count_complexity(model, input_shape):
    """``(params, flops)`` of ``model`` for one input of ``input_shape``
    (C, H, W), by mmengine's ``get_model_complexity_info`` on its
    :class:`TensorForward` (one multiply-add = one FLOP)."""
    from mmengine.analysis import get_model_complexity_info
    was_training = model.training
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        flops = get_model_complexity_info(
            TensorForward(model), input_shape=tuple(input_shape),
            show_table=False, show_arch=False)['flops']
    model.train(was_training)
    return params, flops


def list_models(pattern=None):
    """Names of the image classifiers of MMPretrain's model hub matching
    ``pattern`` (fnmatch, e.g. ``'shvit*'``), mmhybrid's index registered
    (:func:`mmhybrid.engine.model_index.register_model_index`)."""
    import mmpretrain

    from mmhybrid.engine.model_index import register_model_index
    register_model_index()
    return mmpretrain.list_models(pattern)


def search_models(pattern=None):
    """Every entry of mmhybrid's model index (classifiers, detectors,
    segmentors) matching ``pattern``, with its published results, size,
    config and upstream weights URL
    (:func:`mmhybrid.engine.model_index.search_index`): ``mim search
    mmhybrid`` without openmim, with any install."""
    from mmhybrid.engine.model_index import search_index
    return search_index(pattern)


def get_model(model, pretrained=False, device='cpu', **kwargs):
    """``mmpretrain.get_model`` for mmhybrid's classifiers, with safe and
    checked weights: ``model`` is a name of the index (``'shvit-s1_in1k'``,
    see :func:`list_models`) or a config; ``pretrained`` is False, True (the
    upstream weights the index records, downloaded once into torch.hub's
    cache) or a path/URL. The weights are read without running code from
    the file, an upstream layout (official or timm SHViT, official GA-CSWin)
    is converted, and a checkpoint that does not fit is refused
    (:func:`mmhybrid.models.utils.load_model_checkpoint`). ``kwargs`` go to
    ``mmpretrain.get_model`` (e.g. ``head=dict(num_classes=10)``)."""
    import mmpretrain

    from mmhybrid.engine.model_index import (index_weights,
                                             register_model_index)
    from mmhybrid.models.utils import load_model_checkpoint
    register_model_index()
    if pretrained is True:
        if not isinstance(model, str) or index_weights(model) is None:
            raise ValueError(
                f'pretrained=True: the index records no weights for '
                f'{model!r}; pass a checkpoint path or URL instead.')
        pretrained = index_weights(model)
    net = mmpretrain.get_model(model, pretrained=False, device='cpu',
                               **kwargs)
    if pretrained:
        load_model_checkpoint(net, pretrained, require_finite=True)
    return net.to(device).eval()
