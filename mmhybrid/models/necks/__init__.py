from .transposed_fpn import TransposedConvFPN

__all__ = ['TransposedConvFPN']
