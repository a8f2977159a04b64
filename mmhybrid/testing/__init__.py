"""Test and demo helpers of mmhybrid: the deterministic synthetic toy
datasets (see :mod:`mmhybrid.testing.toy`)."""
from .toy import (TOY_CLASSES, TOY_KINDS, TOY_PALETTE, TOY_SEG_CLASSES,
                  TOY_SEG_PALETTE, make_toy_ade, make_toy_coco,
                  make_toy_data, make_toy_folder, make_toy_imagenet)

__all__ = [
    'TOY_CLASSES', 'TOY_KINDS', 'TOY_PALETTE', 'TOY_SEG_CLASSES',
    'TOY_SEG_PALETTE', 'make_toy_coco', 'make_toy_ade', 'make_toy_imagenet',
    'make_toy_data', 'make_toy_folder'
]
