"""Importing this package registers every mmhybrid model component in the
MODELS registries of MMPretrain, MMDetection, MMSegmentation and mmhybrid."""
from .backbones import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .heads import __all__ as _heads
from .necks import __all__ as _necks

__all__ = _backbones + _heads + _necks
from .layers import HAM  # noqa: E402

__all__ += ['HAM']
from .layers import CGSA, DCA, DSA, LWMHSA  # noqa: E402

__all__ += ['LWMHSA', 'CGSA', 'DSA', 'DCA']
# registers init_cfg=dict(type='CheckedPretrained', ...) (not a model)
from .utils import init as _init  # noqa: E402,F401
