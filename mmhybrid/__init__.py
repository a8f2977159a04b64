"""mmhybrid: hybrid CNN-Transformer backbones for MMPretrain, MMDetection and
MMSegmentation.

Importing ``mmhybrid.models`` (what a config's ``custom_imports`` does)
registers mmhybrid's components in the frameworks' registries and changes
nothing else in torch, mmengine, mmcv, mmdet, mmseg or mmpretrain. Policy
(checked loading, crash-safe saves, CPU DDP) is opt-in: ``runner_type =
'HybridRunner'`` and the ``SafeCheckpointHook`` (:mod:`mmhybrid.engine`),
which mmhybrid's own configs choose in their runtime bases.
"""
__version__ = '0.1.0'

__all__ = ['__version__']
