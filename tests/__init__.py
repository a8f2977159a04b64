"""mmhybrid's tests; they mirror the package (tests/test_models/test_backbones
<-> mmhybrid/models/backbones, ...). ``ROOT`` is the repository root;
:class:`OpCounter` counts the ATen/oneDNN ops a forward dispatches."""
import os.path as osp

from torch.utils._python_dispatch import TorchDispatchMode

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


class OpCounter(TorchDispatchMode):
    """Counts the ATen/oneDNN ops a forward dispatches."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))

    def count(self, name):
        return sum(op.endswith(name) for op in self.ops)
