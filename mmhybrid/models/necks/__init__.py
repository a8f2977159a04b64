from .transposed_fpn import TransposedConvFPN

__all__ = ['TransposedConvFPN']
from .cvnets_ssd_neck import CVNetsSSDNeck  # noqa: E402

__all__ += ['CVNetsSSDNeck']
