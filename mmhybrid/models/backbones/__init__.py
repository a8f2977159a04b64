from .cswin import CSWin
from .shvit import SHViT

__all__ = ['SHViT', 'CSWin']
from .ham_vit import HAMViT

__all__ += ['HAMViT']
from .harmovision import HarmoVision

__all__ += ['HarmoVision']
from .block_taps import BlockTaps

__all__ += ['BlockTaps']
