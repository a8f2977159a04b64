from .ga_cswin import GACSWin
from .shvit import SHViT

__all__ = ['SHViT', 'GACSWin']
from .ham_vit import HAMViT

__all__ += ['HAMViT']
from .harmovision import HarmoVision

__all__ += ['HarmoVision']
