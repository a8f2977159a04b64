"""The deploy package. Export (ONNX through mmdeploy, parity and speed with
onnxruntime): :mod:`mmhybrid.deploy.export`; Core ML:
:mod:`mmhybrid.deploy.coreml` (``from mmhybrid.deploy import coreml``)."""
from . import coreml
from .export import (TOLERANCES, ExportError, ExportResult, build_backbone,
                     build_classifier, build_deploy_config, check_export,
                     compare, create_input, export, export_model, failing_op,
                     failures, format_figures, nonstandard_ops, onnx_session,
                     randomize_norms, run_onnx, run_session,
                     sample_image, tensor_parity, time_onnx_vs_torch,
                     use_onnxruntime)

__all__ = [
    'coreml', 'ExportError', 'ExportResult', 'build_backbone', 'build_classifier',
    'build_deploy_config', 'create_input', 'export', 'export_model',
    'failing_op', 'nonstandard_ops', 'randomize_norms', 'run_onnx',
    'sample_image', 'tensor_parity',
    'TOLERANCES', 'check_export', 'compare', 'failures', 'format_figures',
    'onnx_session', 'run_session', 'time_onnx_vs_torch', 'use_onnxruntime'
]
