from .ema import EMAPolicyHook
from .hooks import (InferenceFormHook, SafeCheckpointHook, inference_form,
                    replace_atomically)
from .mmcv_ext import (MMCV_EXT_STAND_IN, find_mmcv_dir,
                       install_mmcv_ext_stand_in, is_mmcv_ext_stand_in,
                       record_mmcv_ext_calls, remove_mmcv_ext_stand_in)
from .optim import AGCAmpOptimWrapper, AGCOptimWrapper, amp_wrapper_type
from .runner import HybridRunner, find_resumable_checkpoint
from .safe_load import (TRUST_ENV, NotACheckpointError,
                        UntrustedCheckpointError, safe_load, safe_load_url,
                        trust_checkpoints)

__all__ = ['safe_load', 'safe_load_url', 'trust_checkpoints',
           'UntrustedCheckpointError', 'NotACheckpointError', 'TRUST_ENV',
           'InferenceFormHook', 'inference_form', 'SafeCheckpointHook',
           'replace_atomically', 'HybridRunner', 'find_resumable_checkpoint',
           'AGCOptimWrapper', 'AGCAmpOptimWrapper', 'amp_wrapper_type',
           'EMAPolicyHook']
__all__ += ['MMCV_EXT_STAND_IN', 'install_mmcv_ext_stand_in',
            'remove_mmcv_ext_stand_in', 'is_mmcv_ext_stand_in',
            'find_mmcv_dir', 'record_mmcv_ext_calls']
