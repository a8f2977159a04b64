from .bn_linear_head import BNLinearClsHead
from .ga_head import GAHead

__all__ = ['BNLinearClsHead']
__all__ += ['GAHead']
from .harmovision_head import HarmoVisionClsHead

__all__ += ['HarmoVisionClsHead']
from .cvnets_aspp_head import CVNetsASPPHead  # noqa: E402
# CVNetsSSDAnchorGenerator: in mmdet's TASK_UTILS (not a model)
from .cvnets_ssd_head import CVNetsSSDAnchorGenerator, CVNetsSSDHead  # noqa

__all__ += ['CVNetsASPPHead', 'CVNetsSSDHead']
