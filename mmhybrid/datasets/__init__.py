"""Dataset utilities of mmhybrid: the deterministic synthetic toy sets used
by the demo and the tests (see :mod:`mmhybrid.datasets.toy`)."""
from .toy import (TOY_CLASSES, TOY_PALETTE, TOY_SEG_CLASSES, TOY_SEG_PALETTE,
                  make_toy_ade, make_toy_coco, make_toy_data,
                  make_toy_imagenet)

__all__ = [
    'TOY_CLASSES', 'TOY_PALETTE', 'TOY_SEG_CLASSES', 'TOY_SEG_PALETTE',
    'make_toy_coco', 'make_toy_ade', 'make_toy_imagenet', 'make_toy_data'
]
from .toy import make_toy_folder  # noqa: E402

__all__ += ['make_toy_folder']
