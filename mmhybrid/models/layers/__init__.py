from .conv_bn import BNLinear, Conv2dBN, make_divisible

__all__ = ['BNLinear', 'Conv2dBN', 'make_divisible']
from .attention_map import AttentionMap

__all__ += ['AttentionMap']
from .attention import CGSA, DCA, DSA, LWMHSA, eca_kernel_size

__all__ += ['LWMHSA', 'CGSA', 'DSA', 'DCA', 'eca_kernel_size']
from .ham import HAM

__all__ += ['HAM']
from .cswin_block import CSWinBlock

__all__ += ['CSWinBlock']
