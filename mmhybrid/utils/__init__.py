"""Model utilities (kept for existing callers; the home of these is
:mod:`mmhybrid.deploy`): ``switch_to_deploy(model)`` switches every backbone
and head of a model to its deploy form; ``enable_bf16(model)`` and
``bf16_autocast()`` run it in CPU bf16 with mmcv's ops, box decoding and
the seg-logit resize kept in float32."""
from mmhybrid.deploy import bf16_autocast, enable_bf16, switch_to_deploy

__all__ = ['switch_to_deploy', 'enable_bf16', 'bf16_autocast']
