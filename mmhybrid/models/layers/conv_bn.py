"""Conv+BN and BN+Linear pairs that fold into one layer for inference, and
the deploy-time convolution that also runs its ReLU / residual add in the
same oneDNN kernel on CPU."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def make_divisible(value, divisor=8, min_value=None):
    """Round ``value`` to the nearest multiple of ``divisor`` (timm rule with
    ``round_limit=0``: never bumped up)."""
    min_value = min_value or divisor
    return max(min_value, int(value + divisor / 2) // divisor * divisor)


class Conv2dBN(nn.Sequential):
    """Conv2d without bias followed by BatchNorm2d (children ``c`` and ``bn``,
    the upstream names).

    Args:
        bn_weight_init (float): initial BN gamma (0 makes a residual branch
            start as identity).
    """

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1,
                 padding=0, dilation=1, groups=1, bn_weight_init=1.):
        super().__init__()
        self.add_module('c', nn.Conv2d(in_channels, out_channels, kernel_size,
                                       stride, padding, dilation, groups,
                                       bias=False))
        self.add_module('bn', nn.BatchNorm2d(out_channels))
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.constant_(self.bn.bias, 0)

    def fuse(self):
        """Return a Conv2d with bias computing the same function."""
        return fold_bn(self.c, self.bn)


@torch.no_grad()
def fold_bn(conv, bn):
    """A ``Conv2d`` with bias computing ``bn(conv(x))`` (BN in eval mode)."""
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std if bn.affine else 1 / std
    shift = bn.bias if bn.affine else torch.zeros_like(std)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                      conv.stride, conv.padding, conv.dilation, conv.groups,
                      bias=True, padding_mode=conv.padding_mode,
                      device=conv.weight.device, dtype=conv.weight.dtype)
    fused.weight.copy_(conv.weight * scale[:, None, None, None])
    bias = shift - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    fused.bias.copy_(bias)
    return fused


class BNLinear(nn.Sequential):
    """BatchNorm1d followed by Linear (children ``bn`` and ``l``)."""

    def __init__(self, in_features, out_features, bias=True, std=0.02):
        super().__init__()
        self.add_module('bn', nn.BatchNorm1d(in_features))
        self.add_module('l', nn.Linear(in_features, out_features, bias=bias))
        nn.init.trunc_normal_(self.l.weight, std=std)
        if bias:
            nn.init.constant_(self.l.bias, 0)

    @torch.no_grad()
    def fuse(self):
        """Return a Linear computing the same function."""
        bn, lin = self.bn, self.l
        scale = bn.weight / (bn.running_var + bn.eps).sqrt()
        shift = bn.bias - bn.running_mean * scale
        fused = nn.Linear(lin.in_features, lin.out_features,
                          device=lin.weight.device)
        fused.weight.copy_(lin.weight * scale[None, :])
        bias = lin.weight @ shift
        if lin.bias is not None:
            bias = bias + lin.bias
        fused.bias.copy_(bias)
        return fused


def fuse_conv_bn_modules(module):
    """Recursively replace every child that has a ``fuse()`` method by its
    fused form. Returns the (possibly replaced) module."""
    if hasattr(module, 'fuse') and callable(module.fuse):
        return module.fuse()
    for name, child in module.named_children():
        fused = fuse_conv_bn_modules(child)
        if fused is not child:
            setattr(module, name, fused)
    return module


def _onednn_usable(x, weight):
    """Whether oneDNN's fused convolution may run: CPU float32/bfloat16
    inference in eager mode. Autograd, tracing (ONNX, jit, FLOP counters) and
    torch.compile take the plain ops instead, which compute the same."""
    return (x.device.type == 'cpu' and x.dtype in (torch.float32,
                                                   torch.bfloat16)
            and torch.backends.mkldnn.is_available()
            and not (torch.is_grad_enabled() and
                     (x.requires_grad or weight.requires_grad))
            and not torch.jit.is_tracing() and not torch.jit.is_scripting()
            and not torch.onnx.is_in_onnx_export())


# activation -> (oneDNN post-op name, function, module type)
_ACTS = {'relu': ('relu', F.relu, nn.ReLU), 'silu': ('swish', F.silu, nn.SiLU)}


class FusedConv2d(nn.Conv2d):
    """A deploy-time ``Conv2d`` (BN already folded) that can also add a
    residual and apply an activation: ``act(conv(x) + residual)``.

    On CPU (float32, or bfloat16 directly or under autocast) the whole thing
    is one oneDNN convolution with post-ops and weights packed once for it,
    so the add and the activation cost no extra pass over memory; elsewhere
    (GPU, autograd, tracing/ONNX export, torch.compile) it is ``F.conv2d``
    followed by the add and the activation. Parameters and state-dict keys
    are those of the plain ``Conv2d`` it replaces.

    Args:
        act (str, optional): ``'relu'``, ``'silu'`` or None.
    """

    def __init__(self, *args, act=None, **kwargs):
        super().__init__(*args, **kwargs)
        if act is not None and act not in _ACTS:
            raise ValueError(f'act must be one of {sorted(_ACTS)} or None, '
                             f'got {act!r}')
        self.act = act

    @classmethod
    @torch.no_grad()
    def from_conv(cls, conv, act=None):
        fused = cls(conv.in_channels, conv.out_channels, conv.kernel_size,
                    conv.stride, conv.padding, conv.dilation, conv.groups,
                    bias=conv.bias is not None, padding_mode=conv.padding_mode,
                    act=act, device=conv.weight.device,
                    dtype=conv.weight.dtype)
        fused.weight.copy_(conv.weight)
        if conv.bias is not None:
            fused.bias.copy_(conv.bias)
        fused.requires_grad_(conv.weight.requires_grad)
        return fused

    def extra_repr(self):
        return super().extra_repr() + (f', act={self.act!r}'
                                       if self.act else '')

    def forward(self, x, residual=None):
        if torch.compiler.is_compiling():  # inductor fuses on its own
            return self._plain(x, residual)
        if self.padding_mode == 'zeros' and isinstance(self.padding, tuple) \
                and _onednn_usable(x, self.weight):
            weight, bias = self.weight, self.bias
            if torch.is_autocast_enabled('cpu'):
                dtype = torch.get_autocast_dtype('cpu')
                x, weight = x.to(dtype), weight.to(dtype)
                bias = None if bias is None else bias.to(dtype)
            elif weight.dtype != x.dtype:
                return self._plain(x, residual)
            act = _ACTS[self.act][0] if self.act else None
            args = (self._packed_weight(weight, x), bias, list(self.padding),
                    list(self.stride), list(self.dilation), self.groups)
            if residual is None:
                return torch.ops.mkldnn._convolution_pointwise(
                    x, *args, act or 'none', [], '')
            return torch.ops.mkldnn._convolution_pointwise(
                x, residual.to(x.dtype), *args, 'add', 1.0, act, [], None)
        return self._plain(x, residual)

    def _packed_weight(self, weight, x):
        """``weight`` reordered once into oneDNN's blocked layout for this
        kind of input (cached until the parameter changes)."""
        key = (x.dtype, x.shape[1:2], self.weight._version,
               self.weight.data_ptr())
        cache = self.__dict__.get('_packed')
        if cache is None or cache[0] != key:
            packed = torch.ops.mkldnn._reorder_convolution_weight(
                weight, list(self.padding), list(self.stride),
                list(self.dilation), self.groups, list(x.shape))
            cache = self.__dict__['_packed'] = (key, packed)
        return cache[1]

    def __getstate__(self):  # the oneDNN cache neither pickles nor copies
        state = super().__getstate__()
        state = dict(state)
        state.pop('_packed', None)
        return state

    def _plain(self, x, residual=None):
        y = super().forward(x)
        if residual is not None:
            y = y + residual
        return _ACTS[self.act][1](y) if self.act else y


def conv_add(conv, x, residual=None):
    """``conv(x) + residual`` through :class:`FusedConv2d` when ``conv`` is
    one (one kernel), else as two ops."""
    if isinstance(conv, FusedConv2d):
        return conv(x, residual)
    y = conv(x)
    return y if residual is None else y + residual


def to_fused_convs(module):
    """Make every plain ``nn.Conv2d`` under ``module`` a
    :class:`FusedConv2d` (same weights; on CPU it runs with its weights
    packed once for oneDNN). Returns the number converted."""
    count = 0
    for name, child in module.named_children():
        if type(child) is nn.Conv2d:
            setattr(module, name, FusedConv2d.from_conv(child))
            count += 1
        else:
            count += to_fused_convs(child)
    return count


def fuse_conv_act(module):
    """Turn every ``Conv2d`` followed by a ``ReLU`` or ``SiLU`` in an
    ``nn.Sequential`` (BN already folded; ``nn.Identity`` in between is
    skipped) into a :class:`FusedConv2d` running
    that activation, the activation module becoming ``nn.Identity``,
    recursively. Returns the number of pairs fused."""
    count = 0
    for seq, a, b in _sequential_pairs(module):
        conv, act = seq._modules[a], seq._modules[b]
        kind = [k for k, (_, _, t) in _ACTS.items() if type(act) is t]
        if type(conv) in (nn.Conv2d, FusedConv2d) and kind and \
                getattr(conv, 'act', None) is None:
            seq._modules[a] = FusedConv2d.from_conv(conv, kind[0])
            seq._modules[b] = nn.Identity()
            count += 1
    return count


def _sequential_pairs(module):
    """``(seq, name_a, name_b)`` for every two neighbouring children of every
    ``nn.Sequential`` under ``module`` (itself included), skipping
    ``nn.Identity`` (what an earlier fusion leaves behind)."""
    for seq in module.modules():
        if isinstance(seq, nn.Sequential):
            names = [n for n, m in seq._modules.items()
                     if not isinstance(m, nn.Identity)]
            yield from ((seq, a, b) for a, b in zip(names, names[1:]))


def fold_conv_bn_pairs(module):
    """Fold every ``BatchNorm2d`` that follows a ``Conv2d`` in an
    ``nn.Sequential`` into that conv (the BN becomes ``nn.Identity``),
    recursively; for layers not built from :class:`Conv2dBN`. Returns the
    number folded."""
    count = 0
    for seq, a, b in _sequential_pairs(module):
        conv, bn = seq._modules[a], seq._modules[b]
        if type(conv) is nn.Conv2d and type(bn) is nn.BatchNorm2d \
                and bn.track_running_stats:
            seq._modules[a] = fold_bn(conv, bn)
            seq._modules[b] = nn.Identity()
            count += 1
    return count


def deploy_convs(module):
    """The inference form of ``module``, in place: every BN folded into its
    conv (:func:`fuse_conv_bn_modules`, :func:`fold_conv_bn_pairs`), ReLU/SiLU after a conv run inside
    it (:func:`fuse_conv_act`), every conv a :class:`FusedConv2d`, weights
    channels-last. Returns ``module``."""
    module = fuse_conv_bn_modules(module)
    fold_conv_bn_pairs(module)
    fuse_conv_act(module)
    to_fused_convs(module)
    return module.to(memory_format=torch.channels_last)
