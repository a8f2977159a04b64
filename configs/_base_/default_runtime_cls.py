# mmpretrain's default runtime, with mmhybrid's opt-in policy (mmhybrid/engine):
# HybridRunner (safe and checked checkpoint loading: strict for test and
# resume, a fine-tune for load_from; resume falls back to the newest
# checkpoint; gloo DDP where mmengine's device is the CPU) and crash-safe
# checkpoint saves. A config of your own opts in with the same two lines.
_base_ = 'mmpretrain::_base_/default_runtime.py'

runner_type = 'HybridRunner'
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))
