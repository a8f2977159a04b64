from .conv_bn import (BNLinear, Conv2dBN, FusedConv2d, conv_add, deploy_convs,
                      fold_bn, fold_conv_bn_pairs, fuse_conv_act,
                      fuse_conv_bn_modules, make_divisible, to_fused_convs)

__all__ = ['BNLinear', 'Conv2dBN', 'FusedConv2d', 'conv_add', 'deploy_convs',
           'fold_bn', 'fold_conv_bn_pairs', 'fuse_conv_act',
           'fuse_conv_bn_modules', 'make_divisible', 'to_fused_convs']
from .attention_map import AttentionMap

__all__ += ['AttentionMap']
from .attention import CGSA, DCA, DSA, LWMHSA, eca_kernel_size

__all__ += ['LWMHSA', 'CGSA', 'DSA', 'DCA', 'eca_kernel_size']
from .ham import HAM

__all__ += ['HAM']
