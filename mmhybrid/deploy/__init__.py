"""mmhybrid's deploy package: everything that turns a trained model into its
inference form.

* :mod:`.passes` - the deploy passes (timm's ``fuse()`` idiom: modules are
  replaced, training forwards are untouched) and the fused modules they
  produce (:class:`FusedConv2d`, :class:`ConvResidual`,
  :class:`BatchChunked`, :class:`ParallelRoIAlign`); :func:`switch_to_deploy`
  switches a whole model, :func:`deploy_part` one backbone, neck or head,
  with the passes of the model's device (:func:`deploy_form`: the CPU form
  tuned for oneDNN, or the plain form for CUDA);
* :mod:`.parts` - the one description of an OpenMMLab model's parts
  (:func:`model_parts`), which deploy, bf16, part timing and the predictor
  read;
* :mod:`.bf16` - CPU bf16 inference with float32 between the parts
  (:func:`enable_bf16`, :func:`bf16_autocast`);
* :mod:`.compile` - ``torch.compile`` of a model's backbone and neck
  (:func:`compile_model`), saying which form ran, falling back with the
  reason where it fails;
* :mod:`.onednn` - the one version-checked door to PyTorch's private oneDNN
  ops (:func:`onednn_ops`);

and, one floor up (they build models through :mod:`mmhybrid.apis`, which
stands on this package), the exporters:

* :mod:`mmhybrid.deploy.onnx` - ONNX export: backbones and classifiers as
  tensors, whole detectors and segmentors through mmdeploy; parity and speed
  against PyTorch with onnxruntime; an onnxruntime model for
  ``tools/test.py --backend onnxruntime``;
* :mod:`mmhybrid.deploy.coreml` - Core ML export.

Importing this package imports neither :mod:`mmhybrid.apis` nor
:mod:`mmhybrid.models`.

Importing it imports neither mmdeploy nor onnxruntime, and changes nothing
in torch or the OpenMMLab packages.
"""
from .compile import (COMPILE_MODES, Compiled, CompiledForward,
                      add_compile_argument, compile_form,
                      compile_model)
from .bf16 import bf16_autocast, bf16_islands, enable_bf16, to_float32
from .onednn import onednn_ops, onednn_status
from .parts import PART_NAMES, ROLES, Part, Role, model_parts, part_num_classes
from .passes import (BatchChunked, ChannelsLastForward,
                     ChannelsLastLayerNorm2d, ConvResidual, DeployForm,
                     FusedConv2d, ParallelRoIAlign, deploy_backbone,
                     deploy_form, deploy_module, deploy_part, fuse_conv_act,
                     fuse_conv_modules, fuse_modules, fuse_residuals,
                     parallel_roi_align, switch_to_deploy, to_fused_convs,
                     unchunk_batches)

__all__ = [
    'switch_to_deploy', 'deploy_form', 'DeployForm', 'unchunk_batches',
    'deploy_module', 'deploy_part', 'deploy_backbone',
    'fuse_modules', 'fuse_conv_act', 'fuse_conv_modules', 'to_fused_convs',
    'fuse_residuals', 'parallel_roi_align', 'FusedConv2d', 'ConvResidual',
    'BatchChunked', 'ChannelsLastForward', 'ChannelsLastLayerNorm2d',
    'ParallelRoIAlign',
    'enable_bf16', 'bf16_autocast', 'bf16_islands', 'to_float32',
    'model_parts', 'part_num_classes', 'Part', 'Role', 'ROLES', 'PART_NAMES',
    'onednn_ops', 'onednn_status', 'compile_model', 'compile_form',
    'Compiled', 'CompiledForward', 'COMPILE_MODES', 'add_compile_argument'
]
