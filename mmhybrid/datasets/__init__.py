"""Data transforms of mmhybrid, registered in the frameworks' TRANSFORMS
registries when :mod:`mmhybrid.models` is imported (only configs that name
them use them)."""
from .transforms import ResizeImageAndLabel

__all__ = ['ResizeImageAndLabel']
