"""An exported ONNX file as a model of mmengine's test loop, as mmdeploy's
``tools/test.py`` runs one: the config's own data pipeline and data
preprocessor, onnxruntime for the network, mmdeploy's ``End2EndModel`` for
the post-processing back to the original image (rescaled boxes, masks,
class maps), and the config's own evaluator.

:func:`use_onnxruntime` points a config at the file; the Runner then builds
:class:`OnnxRuntimeModel` (registered in mmhybrid's ``MODELS``) instead of
the PyTorch model."""
import os.path as osp

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from mmhybrid.registry import MODELS


def onnx_output_names(path):
    """Names of the graph outputs of an ONNX file."""
    import onnx
    return [o.name for o in onnx.load(
        path, load_external_data=False).graph.output]


class _FloatMasks(nn.Module):
    """mmdeploy's backend wrapper with a ``masks`` output as float: the
    graph thresholds the pasted masks (bool), and ``End2EndModel`` resizes
    them to the original image with ``F.interpolate``, which torch does not
    run on bool tensors."""

    def __init__(self, wrapper):
        super().__init__()
        self.wrapper = wrapper

    def forward(self, inputs):
        outputs = self.wrapper(inputs)
        if outputs.get('masks') is not None and \
                outputs['masks'].dtype == torch.bool:
            outputs['masks'] = outputs['masks'].float()
        return outputs

    def output_to_list(self, outputs):
        return self.wrapper.output_to_list(outputs)


@MODELS.register_module()
class OnnxRuntimeModel(BaseModel):
    """``onnx_file`` run by onnxruntime behind mmdeploy's backend model of
    the task of ``model_cfg`` (the config the file was exported from, as a
    dict: its ``model``, pipelines and ``default_scope``)."""

    def __init__(self, onnx_file, model_cfg, data_preprocessor=None,
                 init_cfg=None):
        # ``data_preprocessor``: what mmengine's Runner passes from a
        # config's top-level one; mmdeploy's backend model builds the
        # config's own (the same) from ``model_cfg``
        super().__init__(init_cfg=init_cfg)
        from mmengine import Config
        from .exporter import build_deploy_config, task_processor
        if not osp.isfile(onnx_file):
            raise FileNotFoundError(f'ONNX file not found: {onnx_file!r}')
        cfg = Config(model_cfg)
        deploy_cfg = build_deploy_config(
            cfg, onnx_output_names(onnx_file), dynamic=True)
        self.onnx_file = onnx_file
        self.backend = task_processor(cfg, deploy_cfg).build_backend_model(
            [onnx_file])
        if hasattr(self.backend, 'wrapper'):
            self.backend.wrapper = _FloatMasks(self.backend.wrapper)
        # the backend's preprocessor is the config's: it runs in test_step
        self.data_preprocessor = self.backend.data_preprocessor

    def test_step(self, data):
        return self.backend.test_step(data)

    val_step = test_step

    def forward(self, inputs, data_samples=None, mode='predict'):
        return self.backend(inputs, data_samples, mode=mode)


def use_onnxruntime(cfg, onnx_file):
    """Make ``cfg`` (a test config) build :class:`OnnxRuntimeModel` on
    ``onnx_file``: ``cfg.model`` becomes that model; nothing is loaded into
    it (``load_from`` is cleared)."""
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX file not found: {onnx_file!r}')
    model_cfg = cfg.to_dict()
    model_cfg.pop('model_wrapper_cfg', None)
    cfg.model = dict(type='mmhybrid.OnnxRuntimeModel', onnx_file=onnx_file,
                     model_cfg=model_cfg)
    cfg.load_from = None
    return cfg
