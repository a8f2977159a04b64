from .conv_bn import BNLinear, Conv2dBN, fuse_conv_bn_modules, make_divisible

__all__ = ['BNLinear', 'Conv2dBN', 'fuse_conv_bn_modules', 'make_divisible']
