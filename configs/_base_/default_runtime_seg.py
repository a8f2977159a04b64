# mmseg's default runtime, with mmhybrid's opt-in Runner (mmhybrid/engine):
# HybridRunner (safe and checked checkpoint loading: strict for test and
# resume, a fine-tune for load_from; resume falls back to the newest
# checkpoint; gloo DDP where mmengine's device is the CPU). mmseg keeps its
# checkpoint hook in the schedule bases: ours (schedules/schedule_*k_adamw.py)
# make it the crash-safe SafeCheckpointHook.
_base_ = 'mmseg::_base_/default_runtime.py'

runner_type = 'HybridRunner'
