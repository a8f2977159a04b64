from .hooks import (InferenceFormHook, SafeCheckpointHook, inference_form,
                    replace_atomically)
from .runner import HybridRunner, find_resumable_checkpoint
from .safe_load import TRUST_ENV, UntrustedCheckpointError, safe_load

__all__ = ['safe_load', 'UntrustedCheckpointError', 'TRUST_ENV',
           'InferenceFormHook', 'inference_form', 'SafeCheckpointHook',
           'replace_atomically', 'HybridRunner', 'find_resumable_checkpoint']
