"""Data components of mmhybrid for MMPretrain (import ``mmhybrid.datasets``
in a config's ``custom_imports``): CVNets' multi-scale variable-batch
sampling (:mod:`.multiscale`)."""
from .multiscale import (VariableBatchDataset, VariableBatchSampler,
                         VariableRandomResizedCrop, image_batch_pairs)

__all__ = ['VariableBatchSampler', 'VariableBatchDataset',
           'VariableRandomResizedCrop', 'image_batch_pairs']
