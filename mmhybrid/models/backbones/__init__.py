from .ga_cswin import GACSWin
from .shvit import SHViT

__all__ = ['SHViT', 'GACSWin']
