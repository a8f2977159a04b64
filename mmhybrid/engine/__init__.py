from .compat import patch_stack

__all__ = ['patch_stack']
