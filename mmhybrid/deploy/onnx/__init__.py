"""Export to ONNX: backbones and classifiers as tensors, whole detectors
and segmentors through mmdeploy (:mod:`.exporter`, mends in :mod:`.rewriters`);
parity and speed against PyTorch with onnxruntime (:mod:`.parity`, sessions
and the export error in :mod:`.session`); an
onnxruntime model for mmengine's test loop (:mod:`.runtime`).

mmdeploy, onnx and onnxruntime are imported only inside the functions that
use them."""
from .exporter import (ExportResult, build_backbone, build_classifier,
                       build_deploy_config, create_input, export,
                       export_model, nonstandard_ops, randomize_norms,
                       run_onnx, sample_image, tensor_parity)
from .parity import (TOLERANCES, check_export, compare, failures,
                     format_figures, time_onnx_vs_torch)
from .session import ExportError, failing_op, onnx_session, run_session
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
