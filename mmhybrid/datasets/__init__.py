"""Data components of mmhybrid, registered in the frameworks' registries
when :mod:`mmhybrid.models` (or this package) is imported; only configs that
name them use them: CVNets' multi-scale variable-batch sampling
(:mod:`.multiscale`) and CVNets' segmentation evaluation resize
(:mod:`.transforms`)."""
from .multiscale import (VariableBatchDataset, VariableBatchSampler,
                         VariableRandomResizedCrop, image_batch_pairs)
from .transforms import ResizeImageAndLabel

__all__ = ['VariableBatchSampler', 'VariableBatchDataset',
           'VariableRandomResizedCrop', 'image_batch_pairs',
           'ResizeImageAndLabel']
