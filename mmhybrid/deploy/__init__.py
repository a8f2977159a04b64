"""The deploy package. Export (ONNX through mmdeploy, parity and speed with
onnxruntime): :mod:`mmhybrid.deploy.export`."""
from .export import *  # noqa: F401,F403
from .export import __all__ as _export_all

__all__ = list(_export_all)
