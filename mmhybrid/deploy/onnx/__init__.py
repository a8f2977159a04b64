"""Export to ONNX: backbones and classifiers as tensors, whole detectors
and segmentors through mmdeploy (:mod:`.exporter`, mends in :mod:`.rewriters`);
parity and speed against PyTorch with onnxruntime (:mod:`.parity`); an
onnxruntime model for mmengine's test loop (:mod:`.runtime`).

mmdeploy, onnx and onnxruntime are imported only inside the functions that
use them."""
from .exporter import (ExportError, ExportResult, build_backbone,
                   build_classifier, build_deploy_config, create_input,
                   export, export_model, failing_op, nonstandard_ops,
                   randomize_norms, run_onnx, sample_image,
                   tensor_parity)
from .parity import (TOLERANCES, check_export, compare, failures,
                     format_figures, onnx_session, run_session,
                     time_onnx_vs_torch)
from .runtime import OnnxRuntimeModel, use_onnxruntime

__all__ = [
    'ExportError', 'ExportResult', 'build_backbone', 'build_classifier',
    'build_deploy_config', 'create_input', 'export', 'export_model',
    'failing_op', 'nonstandard_ops', 'randomize_norms', 'run_onnx',
    'sample_image', 'tensor_parity',
    'TOLERANCES', 'check_export', 'compare', 'failures', 'format_figures',
    'onnx_session', 'run_session', 'time_onnx_vs_torch', 'use_onnxruntime',
    'OnnxRuntimeModel'
]
