from .compat import patch_stack
from .hooks import InferenceFormHook, inference_form
from .safe_load import TRUST_ENV, UntrustedCheckpointError, safe_load

__all__ = ['patch_stack', 'safe_load', 'UntrustedCheckpointError', 'TRUST_ENV',
           'InferenceFormHook', 'inference_form']
