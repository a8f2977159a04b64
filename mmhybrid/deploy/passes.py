"""Deploy as module passes (the timm ``fuse()`` idiom): switching a model to
its inference form replaces modules; no training forward knows about it.

The passes depend on the device the model runs on (:func:`deploy_form`,
:class:`DeployForm`). Off the CPU (CUDA) they are only what helps there:
:func:`fuse_modules` (structural re-parameterisation), :func:`unchunk_batches`
(a ``fuse()``'s :class:`BatchChunked` back to a plain ``nn.Sequential``) and
mmcv's BN folding, NCHW float32 (channels-last on request). The CPU form,
tuned for oneDNN, in the order :func:`deploy_module` runs them:

1. :func:`fuse_modules` - every module with a ``fuse()`` method is replaced
   by what it returns (e.g. ``Conv2dBN.fuse()`` -> a ``Conv2d``; SHViT's
   depthwise residual -> one conv), top-down, as timm's ``fuse``.
2. mmcv's :func:`~mmcv.cnn.fuse_conv_bn` - every ``BatchNorm`` registered
   right after a ``Conv2d`` is folded into it (mmcv, like this pass, takes
   the registration order for the data flow).
3. :func:`fuse_conv_modules` and :func:`fuse_conv_act` - the ``ReLU``/
   ``SiLU`` of an mmcv ``ConvModule``, or one that follows a conv in an
   ``nn.Sequential``, runs inside the conv (:class:`FusedConv2d`).
4. :func:`to_fused_convs` - every remaining ``Conv2d`` is a
   :class:`FusedConv2d` (weights packed once for oneDNN on CPU).
5. :func:`fuse_residuals` - a residual ``x + body(x)`` whose body ends in a
   convolution becomes a :class:`ConvResidual`: the last convolution adds
   ``x`` in its own kernel.
6. weights channels-last.

:func:`deploy_part` also makes a backbone, neck or head take its input
channels-last and hand its outputs back as contiguous NCHW (forward hooks:
mmcv's ops, e.g. RoIAlign, assume contiguous maps), and
:func:`switch_to_deploy` walks a whole model (backbone, neck, heads; mmcv's
RoIAlign becomes :class:`ParallelRoIAlign`).

The residual protocol, for modules the passes cannot see through:

* a module computing ``x + body(x)`` has ``residual_body()`` returning
  ``body`` (None when it has no skip);
* a body that is not an ``nn.Sequential`` (whose last child is the last
  op) names its last convolution in ``last_conv`` (a submodule path) and
  computes everything before it in ``forward_body(x)``, so that
  ``body(x) == body.get_submodule(body.last_conv)(body.forward_body(x))``.
"""
import contextvars
import copy
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import fuse_conv_bn

from .onednn import onednn_ops
from .parts import model_parts


def _onednn_usable(x, weight):
    """The oneDNN ops (:func:`~mmhybrid.deploy.onednn_ops`) if its fused
    convolution may run, else None: CPU float32/bfloat16 inference in eager
    mode, bfloat16 (an input or CPU autocast) only where oneDNN has bf16
    kernels for this CPU (AVX-512 or AVX-NE-CONVERT; without them PyTorch's
    own convolution computes bf16). Autograd, tracing (ONNX, jit, FLOP
    counters) and torch.compile take the plain ops instead, which compute
    the same, and so does a torch whose private oneDNN ops fail the check."""
    bf16 = x.dtype == torch.bfloat16 or (
        torch.is_autocast_enabled('cpu')
        and torch.get_autocast_dtype('cpu') == torch.bfloat16)
    if not (x.device.type == 'cpu'
            and x.dtype in (torch.float32, torch.bfloat16)
            and not (torch.is_grad_enabled() and
                     (x.requires_grad or weight.requires_grad))
            and not torch.jit.is_tracing() and not torch.jit.is_scripting()
            and not torch.onnx.is_in_onnx_export()):
        return None
    ops = onednn_ops()
    return ops if ops is not None and (not bf16 or ops.bf16) else None


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

    # a reduction (in_channels / groups x kernel area) longer than this
    # runs fastest in PyTorch's own NCHW convolution (oneDNN's blocked
    # layout inside) rather than channels-last: measured on an AVX-512 CPU,
    # 3x3 convs of 1024 input channels at 0.7x in channels-last, of 512 at
    # 0.96x, of 256 at 1.06x
    NCHW_MIN_REDUCTION = 512 * 9

    def prefers_nchw(self):
        kh, kw = self.kernel_size
        return self.in_channels // self.groups * kh * kw > \
            self.NCHW_MIN_REDUCTION

    def forward(self, x, residual=None):
        # other devices (a model moved to the GPU after switching):
        # F.conv2d, the add, the activation; inductor fuses on its own
        if x.device.type != 'cpu' or torch.compiler.is_compiling():
            return self._plain(x, residual)
        if self.weight.is_contiguous() and self.prefers_nchw():
            return self._plain(x.contiguous(), residual)
        ops = _onednn_usable(x, self.weight) if (
            self.padding_mode == 'zeros'
            and isinstance(self.padding, tuple)) else None
        if ops is not None and x.numel():
            bias = self.bias
            if torch.is_autocast_enabled('cpu'):
                dtype = torch.get_autocast_dtype('cpu')
                x = x.to(dtype)
                bias = None if bias is None else bias.to(dtype)
            elif self.weight.dtype != x.dtype:
                return self._plain(x, residual)
            # oneDNN runs an activation after a fused add for ReLU only
            post = self.act if residual is None or self.act == 'relu' \
                else None
            y = ops.conv(
                x, self._packed_weight(ops, x), bias, self.padding,
                self.stride, self.dilation, self.groups,
                act=_ACTS[post][0] if post else None,
                residual=None if residual is None else residual.to(x.dtype))
            return _ACTS[self.act][1](y) if self.act and not post else y
        return self._plain(x, residual)

    def _packed_weight(self, ops, x):
        """The weight in ``x``'s dtype, reordered once into oneDNN's blocked
        layout for this kind of input (cached until the parameter
        changes)."""
        key = (x.dtype, x.shape[1:2], self.weight._version,
               self.weight.data_ptr())
        cache = self.__dict__.get('_packed')
        if cache is None or cache[0] != key:
            packed = ops.pack_weight(self.weight.to(x.dtype), self.padding,
                                     self.stride, self.dilation, self.groups,
                                     x.shape)
            cache = self.__dict__['_packed'] = (key, packed)
        return cache[1]

    def __getstate__(self):  # the oneDNN cache neither pickles nor copies
        state = super().__getstate__()
        state = dict(state)
        state.pop('_packed', None)
        return state

    def _plain(self, x, residual=None):
        y = super().forward(x)
        if residual is not None:  # in the conv's dtype, as oneDNN adds it
            y = y + residual.to(y.dtype)
        return _ACTS[self.act][1](y) if self.act else y


def _split_last_conv(body):
    """``(pre, conv)`` with ``body(x) == conv(pre(x))`` and ``conv`` a
    :class:`FusedConv2d` without activation, or None."""
    if isinstance(body, nn.Sequential):
        children = [m for m in body if not isinstance(m, nn.Identity)]
        if not children:
            return None
        *head, conv = children

        def pre(x):
            for m in head:
                x = m(x)
            return x
    elif isinstance(getattr(body, 'last_conv', None), str):
        conv, pre = body.get_submodule(body.last_conv), body.forward_body
    else:
        return None
    if type(conv) is not FusedConv2d or conv.act is not None:
        return None
    return pre, conv


class ConvResidual(nn.Module):
    """Deploy form of a residual ``x + body(x)`` whose body ends in a
    convolution: the body's last :class:`FusedConv2d` adds ``x`` in its own
    kernel. ``body`` keeps the child name it had (``name``), so the state
    dict keys do not change."""

    def __init__(self, body, name='m'):
        super().__init__()
        self.name = name
        self.add_module(name, body)
        if _split_last_conv(body) is None:
            raise ValueError(f'{type(body).__name__} does not end in a '
                             'FusedConv2d without activation')

    def forward(self, x):
        pre, conv = _split_last_conv(self._modules[self.name])
        return conv(pre(x), x)


class BatchChunked(nn.Sequential):
    """Deploy form of a sequence of modules (a stage of a backbone) that runs
    each member on batch chunks: the chunks of a member are as many images
    as keep its widest map (per image: the output channels of its widest
    convolution times that convolution's output area, fp32) within
    ``chunk_bytes`` per CPU thread, so that e.g. an inverted residual's
    expansion stays in the cache instead of making a round trip to memory
    per layer. Chunks go from member to member (split again, as views, when
    the next member wants fewer images) and are concatenated once at the
    end. The same arithmetic per image: outputs do not change. On other
    devices, and under autograd, tracing (ONNX export) or torch.compile, it
    is the plain ``nn.Sequential``. Members and state-dict keys are those
    of the sequence it replaces.

    A module whose ``fuse()`` returns ``BatchChunked(self, chunk_bytes)``
    gets it from the deploy passes (its members are fused in turn).
    """

    def __init__(self, modules, chunk_bytes=8 << 20):
        super().__init__(OrderedDict(modules._modules))
        #: the budget per CPU thread for one member's widest map
        self.chunk_bytes = int(chunk_bytes)

    def _chunk_size(self, module, x, batch):
        """Images per chunk of a ``batch`` for ``module`` on inputs like
        ``x``."""
        area = x.shape[2] * x.shape[3]
        widest = max((m.out_channels * area // (m.stride[0] * m.stride[1])
                      for m in module.modules()
                      if isinstance(m, nn.Conv2d)),
                     default=x.shape[1] * area)
        budget = self.chunk_bytes * torch.get_num_threads()
        n = max(1, budget // (4 * max(1, widest)))
        return -(-batch // -(-batch // n))  # even chunks: 16 = 4 x 4

    @staticmethod
    def _rechunk(chunks, n):
        """The batch in chunks of ``n`` images (the last may be smaller):
        smaller chunks are views, larger ones concatenated."""
        if all(c.shape[0] == n for c in chunks[:-1]) and \
                chunks[-1].shape[0] <= n:
            return chunks
        if all(c.shape[0] % n == 0 for c in chunks[:-1]):
            return [p for c in chunks for p in c.split(n)]
        return list(torch.cat(chunks).split(n))

    def forward(self, x):
        if x.device.type != 'cpu' or x.dim() != 4 or x.shape[0] < 2 or \
                torch.is_grad_enabled() or \
                torch.jit.is_tracing() or torch.jit.is_scripting() or \
                torch.onnx.is_in_onnx_export() or \
                torch.compiler.is_compiling():
            return super().forward(x)
        members = list(self)
        if not members:
            return x
        chunks, batch = [x], x.shape[0]
        for module in members:
            chunks = self._rechunk(
                chunks, self._chunk_size(module, chunks[0], batch))
            if module is not members[-1]:
                chunks = [module(c) for c in chunks]
        if len(chunks) == 1:
            return members[-1](chunks[0])
        # the last member's chunks go into the output as each is done
        # (while it is in the cache)
        out, i = None, 0
        for c in chunks:
            y = members[-1](c)
            if out is None:
                fmt = torch.channels_last if y.dim() == 4 and \
                    y.is_contiguous(memory_format=torch.channels_last) \
                    else torch.contiguous_format
                out = torch.empty((batch, *y.shape[1:]), dtype=y.dtype,
                                  device=y.device, memory_format=fmt)
            out[i:i + y.shape[0]].copy_(y)
            i += y.shape[0]
        return out


class ChannelsLastLayerNorm2d(nn.Module):
    """Deploy form of a LayerNorm over the channels of an NCHW map (mmpretrain's
    ``LayerNorm2d``): the same ``F.layer_norm`` over the channels, with the
    result left channels-last (mmpretrain's copies it back to contiguous
    NCHW, which the channels-last convolutions after it would undo)."""

    def __init__(self, norm):
        super().__init__()
        self.normalized_shape = tuple(norm.normalized_shape)
        self.eps = norm.eps
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x):
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape,
                            self.weight, self.bias,
                            self.eps).permute(0, 3, 1, 2)


def fuse_modules(module):
    """Replace every module with a ``fuse()`` method by what it returns,
    top-down (the replacement's children are visited in turn). Returns the
    (possibly replaced) ``module``."""
    if callable(getattr(module, 'fuse', None)):
        module = module.fuse()
    for name, child in module.named_children():
        fused = fuse_modules(child)
        if fused is not child:
            setattr(module, name, fused)
    return module


def _sequential_pairs(module):
    """``(seq, name_a, name_b)`` for every two neighbouring children of every
    ``nn.Sequential`` under ``module`` (itself included), skipping
    ``nn.Identity`` (what an earlier fusion leaves behind)."""
    for seq in module.modules():
        if isinstance(seq, nn.Sequential):
            names = [n for n, m in seq._modules.items()
                     if not isinstance(m, nn.Identity)]
            yield from ((seq, a, b) for a, b in zip(names, names[1:]))


def fuse_conv_modules(module):
    """mmcv ``ConvModule`` s (conv, then norm, then activation; the norm
    already folded by :func:`~mmcv.cnn.fuse_conv_bn`) whose activation is a
    ``ReLU``/``SiLU``: the conv becomes a :class:`FusedConv2d` running the
    activation, which becomes ``nn.Identity``. Returns the number fused."""
    from mmcv.cnn import ConvModule
    count = 0
    for m in module.modules():
        if not isinstance(m, ConvModule) or not m.with_activation or \
                tuple(m.order) != ('conv', 'norm', 'act'):
            continue
        if m.with_norm and not isinstance(m.norm, nn.Identity):
            continue
        kind = [k for k, (_, _, t) in _ACTS.items() if type(m.activate) is t]
        if kind and type(m.conv) in (nn.Conv2d, FusedConv2d) and \
                getattr(m.conv, 'act', None) is None:
            m.conv = FusedConv2d.from_conv(m.conv, kind[0])
            m.activate = nn.Identity()
            count += 1
    return count


def fuse_conv_act(module):
    """Turn every ``Conv2d`` followed by a ``ReLU`` or ``SiLU`` in an
    ``nn.Sequential`` (BN already folded; ``nn.Identity`` in between is
    skipped) into a :class:`FusedConv2d` running that activation, the
    activation module becoming ``nn.Identity``, recursively. Returns the
    number of pairs fused."""
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


def fuse_residuals(module):
    """Replace every residual ``x + body(x)`` under ``module`` (a module
    whose ``residual_body()`` returns ``body``) whose body ends in a
    :class:`FusedConv2d` by a :class:`ConvResidual`. Returns the number
    replaced."""
    count = 0
    for name, child in module.named_children():
        count += fuse_residuals(child)
        body = child.residual_body() if callable(
            getattr(child, 'residual_body', None)) else None
        if body is not None and _split_last_conv(body) is not None:
            body_name = next(n for n, m in child.named_children()
                             if m is body)
            setattr(module, name, ConvResidual(body, body_name))
            count += 1
    return count


def unchunk_batches(module):
    """Replace every :class:`BatchChunked` under ``module`` by the plain
    ``nn.Sequential`` of its members (the deploy form off the CPU: batch
    chunks are sized for CPU caches and threads). The members, state-dict
    keys and the ``chunk_bytes`` attribute stay (an owner's budget setter
    still reads and writes it; it has no effect there). Returns the number
    replaced."""
    count = 0
    for name, child in module.named_children():
        count += unchunk_batches(child)
        if isinstance(child, BatchChunked):
            plain = nn.Sequential(OrderedDict(child._modules))
            plain.chunk_bytes = child.chunk_bytes
            setattr(module, name, plain)
            count += 1
    return count


def _fuse_children(module):
    for name, child in module.named_children():
        setattr(module, name, fuse_modules(child))


def _to_channels_last(module):
    module.to(memory_format=torch.channels_last)


def _to_channels_last_cpu(module):
    _to_channels_last(module)
    for m in module.modules():
        if type(m) is FusedConv2d and m.prefers_nchw():
            m.weight.data = m.weight.data.contiguous()


#: pass name -> function of a module, in the names :class:`DeployForm`
#: lists
PASSES = {
    'fuse_modules': _fuse_children,
    'unchunk_batches': unchunk_batches,
    'fuse_conv_bn': fuse_conv_bn,
    'fuse_conv_modules': fuse_conv_modules,
    'fuse_conv_act': fuse_conv_act,
    'to_fused_convs': to_fused_convs,
    'fuse_residuals': fuse_residuals,
    'channels_last_cpu': _to_channels_last_cpu,
    'channels_last': _to_channels_last,
}

#: the CPU form (tuned for oneDNN): BNs folded, conv + ReLU/SiLU/residual
#: add as one oneDNN kernel with packed weights, channels-last (convs whose
#: reduction is long keep NCHW weights: :meth:`FusedConv2d.prefers_nchw`)
CPU_PASSES = ('fuse_modules', 'fuse_conv_bn', 'fuse_conv_modules',
              'fuse_conv_act', 'to_fused_convs', 'fuse_residuals',
              'channels_last_cpu')
#: any other device (CUDA): structural re-parameterisation (``fuse()``) and
#: BN folding only, batch chunks undone; NCHW unless asked for channels-last
OTHER_PASSES = ('fuse_modules', 'unchunk_batches', 'fuse_conv_bn')


@dataclass(frozen=True)
class DeployForm:
    """Which deploy passes run (:func:`deploy_form` makes one).

    Attributes:
        device (str): the device type the form is for (``'cpu'``,
            ``'cuda'``...).
        channels_last (bool): weights (and a deployed part's inputs)
            channels-last; always True on the CPU.
    """
    device: str = 'cpu'
    channels_last: bool = True

    @property
    def passes(self):
        """The module passes (names of :data:`PASSES`) in order."""
        if self.device == 'cpu':
            return CPU_PASSES
        return OTHER_PASSES + (('channels_last', )
                               if self.channels_last else ())

    @property
    def model_passes(self):
        """The passes over a whole model after its parts:
        ``'parallel_roi_align'`` (:func:`parallel_roi_align`) on the CPU."""
        return ('parallel_roi_align', ) if self.device == 'cpu' else ()

    def describe(self):
        """The form in words."""
        if self.device == 'cpu':
            return ('CPU form: BN folded, conv + ReLU/SiLU/residual add as '
                    'one oneDNN kernel, channels-last, RoIAlign on every '
                    'thread')
        return (f'{self.device} form: re-parameterised, BN folded, '
                f'{"channels-last" if self.channels_last else "NCHW"} fp32 '
                'weights, plain PyTorch ops')


def _module_device(module):
    types = {t.device.type for t in
             (*module.parameters(), *module.buffers())}
    if len(types) > 1:
        raise ValueError(
            f'{type(module).__name__} has parameters on several devices '
            f'({", ".join(sorted(types))}); pass device= to choose its '
            'deploy form')
    return types.pop() if types else 'cpu'


def deploy_form(device=None, channels_last=None, module=None):
    """The :class:`DeployForm` for ``device`` (default: ``module``'s
    parameters' device, else the CPU).

    Args:
        device (str | torch.device, optional): e.g. ``'cpu'``,
            ``'cuda:0'``; only its type counts.
        channels_last (bool, optional): off the CPU, channels-last weights
            and inputs (default False: NCHW, not measured faster on a GPU
            yet). The CPU form is channels-last (its oneDNN kernels are
            tuned for it); ``False`` is refused there.
        module (nn.Module, optional): whose device counts when ``device``
            is None.
    """
    if device is None:
        device = _module_device(module) if module is not None else 'cpu'
    kind = torch.device(device).type
    if kind == 'cpu':
        if channels_last is False:
            raise ValueError(
                'channels_last=False: the CPU deploy form is channels-last '
                '(its fused oneDNN convolutions are tuned for it); the '
                'option is for other devices (e.g. device=\'cuda\')')
        return DeployForm('cpu', True)
    return DeployForm(kind, bool(channels_last))


# the form a switch_to_deploy(model, device=...) call is building, seen by
# the passes that a module's own switch_to_deploy() runs
_FORM = contextvars.ContextVar('mmhybrid_deploy_form', default=None)


def _current_form(module, form=None):
    return form or _FORM.get() or deploy_form(module=module)


@torch.no_grad()
def deploy_module(module, form=None):
    """The inference form of ``module``'s children, in place (the passes of
    ``form``, a :class:`DeployForm`; default: the one a running
    :func:`switch_to_deploy` builds, else that of ``module``'s device; the
    part hooks of :func:`deploy_part` excepted). Returns ``module``."""
    for name in _current_form(module, form).passes:
        PASSES[name](module)
    return module


def _map_tensors(obj, fn):
    """``fn`` on every 4-d tensor of ``obj`` (nested tuples/lists)."""
    if isinstance(obj, torch.Tensor):
        return fn(obj) if obj.dim() == 4 else obj
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_tensors(o, fn) for o in obj)
    return obj


class ChannelsLastForward:
    """The ``forward`` of a deployed part (an instance attribute, so that a
    head whose ``predict`` calls ``self.forward`` directly, as mmseg's decode
    heads do, takes it too): the part's own forward on its input made
    channels-last (a tuple of maps too; not with ``channels_last=False``,
    the NCHW form off the CPU), its 4-d outputs made contiguous NCHW again,
    as the part as trained returns them."""

    def __init__(self, module, channels_last=True):
        self.module = module
        self.channels_last = channels_last

    def __call__(self, x, *args, **kwargs):
        if self.channels_last:
            x = _map_tensors(
                x, lambda t: t.contiguous(memory_format=torch.channels_last))
        out = type(self.module).forward(self.module, x, *args, **kwargs)
        return _map_tensors(out, lambda t: t.contiguous())


def deploy_part(part, form=None):
    """:func:`deploy_module` on one part of a model (a backbone, neck or
    head), which then takes its input channels-last (the layout the fused
    convs run fastest in; not in the NCHW form off the CPU) and returns
    contiguous NCHW maps as the part as trained does
    (:class:`ChannelsLastForward`; its type and state-dict keys stay;
    mmcv's ops, e.g. RoIAlign, assume contiguous maps). ``form``: as
    :func:`deploy_module`'s. Sets ``part.deploy``. Returns ``part``."""
    if getattr(part, 'deploy', False):
        return part
    form = _current_form(part, form)
    deploy_module(part, form)
    part.forward = ChannelsLastForward(part, form.channels_last)
    part.deploy = True
    return part


deploy_backbone = deploy_part


class ParallelRoIAlign(nn.Module):
    """Deploy form of mmcv's ``RoIAlign`` (average pooling) on CPU: the RoIs
    are split into one chunk per torch thread, each pooled by torchvision's
    ``roi_align`` (the same sampling and arithmetic as mmcv's, which runs on
    one thread) in a thread of its own. Elsewhere (GPU, autograd, max
    pooling) it is mmcv's op. Its attributes are mmcv's ``RoIAlign``'s."""

    _pool = None

    def __init__(self, roi_align):
        super().__init__()
        for k in ('output_size', 'spatial_scale', 'sampling_ratio',
                  'pool_mode', 'aligned'):
            setattr(self, k, getattr(roi_align, k))
        self.mmcv_op = roi_align

    @classmethod
    def _executor(cls, workers):
        if cls._pool is None or cls._pool._max_workers != workers:
            from concurrent.futures import ThreadPoolExecutor
            cls._pool = ThreadPoolExecutor(workers)
        return cls._pool

    def forward(self, input, rois):
        threads = torch.get_num_threads()
        # a trace (ONNX export) cannot follow work done in other threads
        if input.device.type != 'cpu' or self.pool_mode != 'avg' or \
                input.requires_grad or len(rois) < 2 * threads or \
                torch.jit.is_tracing():
            return self.mmcv_op(input, rois)
        from torchvision.ops import roi_align
        input = input.contiguous()
        rois = rois.to(input.dtype)

        def pool(chunk):
            with torch.inference_mode(torch.is_inference_mode_enabled()):
                return roi_align(input, chunk, self.output_size,
                                 self.spatial_scale, self.sampling_ratio,
                                 self.aligned)

        chunks = rois.chunk(threads)
        return torch.cat(list(self._executor(threads).map(pool, chunks)))

    def __deepcopy__(self, memo):  # the shared thread pool is not copied
        return ParallelRoIAlign(copy.deepcopy(self.mmcv_op, memo))


def parallel_roi_align(module):
    """Replace every mmcv ``RoIAlign`` under ``module`` by a
    :class:`ParallelRoIAlign`. Returns the number replaced."""
    from mmcv.ops import RoIAlign
    count = 0
    for name, child in module.named_children():
        if type(child) is RoIAlign:
            setattr(module, name, ParallelRoIAlign(child))
            count += 1
        elif not isinstance(child, ParallelRoIAlign):
            count += parallel_roi_align(child)
    return count


def switch_to_deploy(model, device=None, channels_last=None):
    """The inference form of a whole model, in place, for the device it
    runs on (:func:`deploy_form`: ``device`` default the model's
    parameters' device; ``channels_last`` an option off the CPU).

    On the CPU (the form tuned for oneDNN): a module with its own
    ``switch_to_deploy()`` (mmhybrid backbones, GA heads; also one that is
    not a named part, e.g. a bare backbone in a wrapper) takes it; any
    other part of an OpenMMLab model that its role deploys (backbone, neck,
    dense heads, RoI box/mask heads, decode and auxiliary heads, cls head:
    :func:`~mmhybrid.deploy.parts.model_parts`) becomes a deployed part
    (:func:`deploy_part`: BNs folded into the convs, mmcv ``ConvModule`` s
    and conv + ReLU/SiLU pairs as one oneDNN kernel, channels-last inside,
    contiguous NCHW between parts), and mmcv's ``RoIAlign`` runs on every
    thread (:class:`ParallelRoIAlign`). Outputs equal the model's as
    trained (in eval mode) to float tolerance.

    On another device (CUDA): the same parts, by structural
    re-parameterisation (the modules' ``fuse()``) and BN folding only, batch
    chunks (:class:`BatchChunked`) undone, NCHW float32 (channels-last with
    ``channels_last=True``), no oneDNN kernels of its own
    (:class:`FusedConv2d` s that a ``fuse()`` makes run ``F.conv2d`` and
    the activation there), mmcv's RoIAlign as it is. Either form stays
    correct on the other device (only slower).

    Returns the class names of what was switched; empty if the model has
    no deploy form."""
    form = deploy_form(device, channels_last, module=model)
    token = _FORM.set(form)
    try:
        done = _switch_parts(model)
    finally:
        _FORM.reset(token)
    if 'parallel_roi_align' in form.model_passes and \
            parallel_roi_align(model):
        done.append('RoIAlign')
    return done


def _has_own_deploy(module):
    return callable(getattr(module, 'switch_to_deploy', None))


def _switch_parts(model):
    if _has_own_deploy(model):
        model.switch_to_deploy()
        return [type(model).__name__]
    done = []
    for part in model_parts(model, whole=_has_own_deploy):
        child = part.module
        if not part.traits.deploy or getattr(child, 'deploy', False):
            continue
        if _has_own_deploy(child):
            child.switch_to_deploy()
            done.append(type(child).__name__)
        elif any(p.dim() == 4 for p in child.parameters()) or \
                any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                    for m in child.modules()):
            deploy_part(child)
            done.append(type(child).__name__)
    return done
