from .bn_linear_head import BNLinearClsHead
from .ga_head import GAHead

__all__ = ['BNLinearClsHead']
__all__ += ['GAHead']
from .harmovision_head import HarmoVisionClsHead

__all__ += ['HarmoVisionClsHead']
