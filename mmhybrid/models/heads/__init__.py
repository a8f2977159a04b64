from .bn_linear_head import BNLinearClsHead

__all__ = ['BNLinearClsHead']
