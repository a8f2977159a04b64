"""Model utilities: ``switch_to_deploy(model)`` switches every backbone and
head of a model to its deploy form (the passes: :mod:`mmhybrid.models.deploy`;
building models: :mod:`mmhybrid.apis`); ``enable_bf16(model)`` and
``bf16_autocast()`` run it in CPU bf16 with mmcv's ops, box decoding and
the seg-logit resize kept in float32 (:mod:`mmhybrid.models.bf16`)."""
from mmhybrid.models.bf16 import bf16_autocast, enable_bf16
from mmhybrid.models.deploy import switch_to_deploy

__all__ = ['switch_to_deploy', 'enable_bf16', 'bf16_autocast']
