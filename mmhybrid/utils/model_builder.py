"""Build a model the way its framework would (or a bare backbone), switch it
to deploy mode and count its params/FLOPs with mmengine's analyzer.

Used by ``tools/analysis_tools/{benchmark,get_flops,model_table}.py``.
"""
import os.path as osp

import torch
import torch.nn as nn
from mmengine.config import Config

from mmhybrid.models.deploy import switch_to_deploy  # noqa: F401 (re-export)


def _framework_models(scope):
    """Register the framework's modules and return its MODELS registry."""
    import mmhybrid.models  # noqa: F401  (puts our modules in every registry)
    if scope == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    elif scope == 'mmseg':
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    else:
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    return MODELS


def load_model_config(config, cfg_options=None):
    """``Config`` of a path (or a Config, returned as is after overrides)."""
    if isinstance(config, Config):
        cfg = config
    else:
        if not osp.isfile(config):
            raise FileNotFoundError(f'Config file not found: {config!r}')
        cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_from_config(config, cfg_options=None):
    """Build ``cfg.model`` in the config's framework (its ``default_scope``:
    mmdet, mmseg or mmpretrain), merging a top-level ``data_preprocessor``
    into the model as mmengine's Runner does. Returns ``(model, cfg,
    task)``; the model is in eval mode, on CPU, weights not loaded."""
    from mmengine.registry import DefaultScope
    from mmhybrid.apis import config_task
    cfg = load_model_config(config, cfg_options)
    task = config_task(cfg)  # refuses configs of no known framework
    scope = cfg.default_scope
    registry = _framework_models(scope)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    name = f'mmhybrid_tools_{scope}'
    if DefaultScope.check_instance_created(name):
        ctx = DefaultScope.get_instance(name)
    else:
        ctx = DefaultScope.get_instance(name, scope_name=scope)
    with DefaultScope.overwrite_default_scope(ctx.scope_name):
        model = registry.build(model_cfg)
    return model.eval(), cfg, task


def build_backbone(name, arch=None, **kwargs):
    """A bare backbone registered by mmhybrid, e.g. ``('SHViT', 's1')``."""
    import mmhybrid.models  # noqa: F401
    from mmhybrid.registry import MODELS
    cfg = dict(type=name, **kwargs)
    if arch is not None:
        cfg['arch'] = arch
    return MODELS.build(cfg).eval()


def test_resolution(cfg):
    """The square input size of a config's test pipeline (its
    ``crop_size``/``scale``; for a pair, the larger side)."""
    size = None
    pipeline = cfg.test_dataloader.dataset.pipeline
    for t in pipeline:
        for key in ('crop_size', 'scale'):
            if key in t:
                v = t[key]
                size = v if isinstance(v, int) else max(v)
    if size is None:
        raise ValueError('no crop_size/scale in the test pipeline')
    return size


def _detection_samples(batch, hw):
    from mmdet.structures import DetDataSample
    h, w = hw
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                batch_input_shape=(h, w), scale_factor=(1., 1.))
    return [DetDataSample(metainfo=meta) for _ in range(batch)]


class TensorForward(nn.Module):
    """``x -> model(x, mode='tensor')`` (or ``model(x)`` for a bare module) as
    a plain forward, for timing and for the FLOP counter."""

    def __init__(self, model, task=None):
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, x):
        if self.task is None:
            return self.model(x)
        samples = None
        if self.task == 'detection':
            samples = _detection_samples(x.shape[0], x.shape[-2:])
        return self.model(x, samples, mode='tensor')


def count_complexity(model, input_shape, task=None):
    """``(params, flops)`` of ``model`` for one input of ``input_shape``
    (C, H, W), by mmengine's ``get_model_complexity_info`` (one multiply-add
    = one FLOP). ``task`` set: the model is an OpenMMLab model called with
    ``mode='tensor'``."""
    from mmengine.analysis import get_model_complexity_info
    was_training = model.training
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        flops = get_model_complexity_info(
            TensorForward(model, task), input_shape=tuple(input_shape),
            show_table=False, show_arch=False)['flops']
    model.train(was_training)
    return params, flops


def timm_counterpart(model):
    """The timm model name of one of ours, or None, as its backbone states
    it (bare backbone: features only; inside an ImageClassifier: with
    head)."""
    backbone = getattr(model, 'backbone', model)
    counterpart = getattr(backbone, 'timm_counterpart', None)
    return counterpart() if callable(counterpart) else None
