from .conv_bn import (BNLinear, Conv2dBN, FusedConv2d, conv_add,
                      fuse_conv_bn_modules, fuse_conv_relu, make_divisible, to_fused_convs)

__all__ = ['BNLinear', 'Conv2dBN', 'FusedConv2d', 'conv_add',
           'fuse_conv_bn_modules', 'fuse_conv_relu', 'make_divisible',
           'to_fused_convs']
from .attention import CGSA, DCA, DSA, LWMHSA, eca_kernel_size

__all__ += ['LWMHSA', 'CGSA', 'DSA', 'DCA', 'eca_kernel_size']
from .ham import HAM

__all__ += ['HAM']
