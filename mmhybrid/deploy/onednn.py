"""The one door to PyTorch's private oneDNN ops.

:class:`~mmhybrid.deploy.FusedConv2d` runs a convolution with a fused
residual add and activation as one oneDNN kernel with weights packed once.
PyTorch exposes that only through private ops (``torch.ops.mkldnn.*``, the
ones its inductor uses), whose names and signatures may change between
releases. They are called nowhere else than through :func:`onednn_ops`, which
checks once per process (lazily: importing mmhybrid runs nothing) that this
torch has them with the signatures used here (torch version, op presence
and one tiny convolution compared with ``F.conv2d``). Where the check fails
:func:`onednn_ops` returns None and the callers take the plain ops
(``F.conv2d`` followed by the add and the activation), which compute the
same; :func:`onednn_status` says why.
"""
import functools

import torch
import torch.nn.functional as F

__all__ = ['OneDNN', 'onednn_ops', 'onednn_status']

#: the first torch release whose ``mkldnn._convolution_pointwise`` has the
#: binary (add) overload with the signature used here
MIN_TORCH = (2, 1)


def _torch_version():
    parts = []
    for p in torch.__version__.split('+')[0].split('.')[:2]:
        digits = ''.join(c for c in p if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


class OneDNN:
    """The private oneDNN ops, behind a stable interface (see
    :func:`onednn_ops`)."""

    def __init__(self):
        self._ops = torch.ops.mkldnn
        #: whether oneDNN has bfloat16 kernels on this CPU (AVX-512 or
        #: AVX-NE-CONVERT; without them PyTorch's own convolution
        #: computes bf16)
        self.bf16 = bool(self._ops._is_mkldnn_bf16_supported())

    def pack_weight(self, weight, padding, stride, dilation, groups,
                    input_size):
        """``weight`` reordered into oneDNN's blocked layout for inputs of
        ``input_size``."""
        return self._ops._reorder_convolution_weight(
            weight, list(padding), list(stride), list(dilation), groups,
            list(input_size))

    def conv(self, x, packed, bias, padding, stride, dilation, groups,
             act=None, residual=None):
        """``act(conv(x) + residual)`` in one kernel; ``act`` is a oneDNN
        post-op name (``'relu'``, ``'swish'``) or None."""
        args = (packed, bias, list(padding), list(stride), list(dilation),
                groups)
        if residual is None:
            return self._ops._convolution_pointwise(x, *args, act or 'none',
                                                    [], '')
        return self._ops._convolution_pointwise(x, residual, *args, 'add',
                                                1.0, act, [], None)


def _check():
    """``(OneDNN or None, reason)``."""
    if _torch_version() < MIN_TORCH:
        return None, (f'torch {torch.__version__} is older than '
                      f'{".".join(map(str, MIN_TORCH))}')
    if not torch.backends.mkldnn.is_available():
        return None, 'this torch is built without oneDNN (mkldnn)'
    names = ('_convolution_pointwise', '_reorder_convolution_weight',
             '_is_mkldnn_bf16_supported')
    missing = [n for n in names if not hasattr(torch.ops.mkldnn, n)]
    if missing:
        return None, f'torch.ops.mkldnn lacks {", ".join(missing)}'
    try:
        ops = OneDNN()
        g = torch.Generator().manual_seed(0)
        x = torch.randn(1, 4, 5, 5, generator=g).contiguous(
            memory_format=torch.channels_last)
        w = torch.randn(4, 4, 3, 3, generator=g)
        b = torch.randn(4, generator=g)
        r = torch.randn(1, 4, 5, 5, generator=g)
        packed = ops.pack_weight(w, (1, 1), (1, 1), (1, 1), 1, x.shape)
        with torch.no_grad():
            got = ops.conv(x, packed, b, (1, 1), (1, 1), (1, 1), 1,
                           act='relu', residual=r)
            plain = ops.conv(x, packed, b, (1, 1), (1, 1), (1, 1), 1)
            ref = F.conv2d(x, w, b, padding=1)
        if not (torch.allclose(plain, ref, atol=1e-4)
                and torch.allclose(got, F.relu(ref + r), atol=1e-4)):
            return None, 'the oneDNN ops computed a wrong convolution'
    except (RuntimeError, TypeError, AttributeError) as e:
        return None, f'the oneDNN ops failed: {type(e).__name__}: {e}'
    return ops, 'ok'


@functools.lru_cache(maxsize=None)
def _checked():
    # the first caller may be under autocast or inference mode
    with torch.autocast('cpu', enabled=False), torch.inference_mode(False):
        return _check()


def onednn_ops():
    """The oneDNN ops (a :class:`OneDNN`) if this torch has them as used
    here, else None (then take the plain ops). Checked once per
    process."""
    return _checked()[0]


def onednn_status():
    """``'ok'``, or why :func:`onednn_ops` returns None."""
    return _checked()[1]
