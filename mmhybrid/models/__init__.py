"""Importing this package (what ``custom_imports=['mmhybrid.models']`` does)
registers every mmhybrid model component in the MODELS registries of
MMPretrain, MMDetection, MMSegmentation and mmhybrid, and mmhybrid's Runner
and hooks in mmengine's RUNNERS and HOOKS (:mod:`mmhybrid.engine`), which
only configs that name them use, and mmhybrid's data transforms in the
frameworks' TRANSFORMS (:mod:`mmhybrid.datasets`). It changes nothing
else."""
from .. import datasets  # noqa: F401  (samplers, transforms)
from .. import engine  # noqa: F401  (HybridRunner, SafeCheckpointHook)
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
