"""``torch.compile`` of a model's backbone and neck, with the form that ran
in words (``--compile`` of ``tools/test.py``, ``tools/inference.py``).

:func:`compile_model` compiles the tensor parts of an OpenMMLab model (its
backbone and neck, as :func:`~mmhybrid.deploy.model_parts` names them; a
bare backbone as a whole): each part's ``forward`` (the deploy form's, if
the model was switched first) becomes an instance attribute
(:class:`CompiledForward`) that calls ``torch.compile`` of it. The heads'
``predict`` (NMS, box decoding, mask pasting: data-dependent shapes and
Python loops) stays eager. The state dict, hooks (bf16 islands, part
timing) and module types do not change.

``torch.compile`` compiles on the first call. Where that fails (a
``torch._dynamo``/inductor error, e.g. no C++ compiler for inductor on the
CPU, or an op dynamo cannot trace) the part is logged as falling back, with
the reason, and runs eagerly from then on; :meth:`Compiled.form` says so.
Nothing is silenced: errors of the model itself are raised as without
``torch.compile``.

``mode='reduce-overhead'`` adds CUDA graphs on CUDA (fixed shapes: one
graph per input shape); on the CPU it is refused.
"""
import logging

import torch

from .parts import model_parts

__all__ = ['COMPILE_MODES', 'CompiledForward', 'Compiled', 'compile_model',
           'compile_form']

#: the modes ``torch.compile`` takes ('default': its own default)
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune',
                 'max-autotune-no-cudagraphs')
#: the parts that are compiled, by role (:data:`~mmhybrid.deploy.ROLES`)
COMPILED_ROLES = ('backbone', 'neck')


def _log(msg, level=logging.WARNING):
    from mmengine.logging import print_log
    print_log(msg, logger='current', level=level)


def _compile_errors():
    from torch._dynamo.exc import TorchDynamoException
    return (TorchDynamoException, )


def _first_line(err):
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return f'{type(err).__name__}: {lines[0]}' if lines else \
        type(err).__name__


def _reason(err):
    """One line: the error, and what the compiler backend raised."""
    inner = getattr(err, 'inner_exception', None) or err.__cause__
    if inner is None or inner is err:
        return _first_line(err)
    return f'{type(err).__name__}: {_first_line(inner)}'


class CompiledForward:
    """The ``forward`` of a compiled part (an instance attribute): calls
    ``torch.compile`` of the part's forward as it was; on a compile error
    (``torch._dynamo``/inductor), logs the part and the reason and runs the
    forward as it was from then on (:attr:`fallback` holds the reason).

    Args:
        module (nn.Module): the part.
        name (str): its name in the model, for the messages.
        compiled (callable): ``torch.compile`` of ``eager``.
        eager (callable): the part's forward before compiling.
    """

    def __init__(self, module, name, compiled, eager):
        self.module, self.name = module, name
        self.compiled, self.eager = compiled, eager
        #: None, or why the part runs eagerly
        self.fallback = None

    def __call__(self, *args, **kwargs):
        if self.fallback is None:
            try:
                return self.compiled(*args, **kwargs)
            except _compile_errors() as e:
                self.fallback = _reason(e)
                _log(f'torch.compile failed for {self.name} '
                     f'({type(self.module).__name__}): {self.fallback}; '
                     f'{self.name} runs uncompiled (eager) from now on')
        return self.eager(*args, **kwargs)


class Compiled:
    """What :func:`compile_model` compiled: :attr:`parts` (name ->
    :class:`CompiledForward`), ``backend`` and ``mode``."""

    def __init__(self, parts, backend, mode):
        self.parts, self.backend, self.mode = parts, backend, mode

    @property
    def fallbacks(self):
        """``{part name: reason}`` of the parts that run eagerly."""
        return {n: f.fallback for n, f in self.parts.items()
                if f.fallback is not None}

    def form(self):
        """The compiled form in words, with any fallback, e.g.
        ``'torch.compile (inductor) of backbone, neck'``."""
        return compile_form(self.backend, self.mode, list(self.parts),
                            self.fallbacks)


def compile_form(backend='inductor', mode=None, parts=('backbone', ),
                 fallbacks=None):
    """``'torch.compile (inductor[, MODE]) of PARTS'`` and, per part that
    fell back, ``'; PART eager: REASON'``."""
    how = backend + ('' if mode in (None, 'default') else f', {mode}')
    words = f'torch.compile ({how}) of {", ".join(parts)}'
    for name, reason in (fallbacks or {}).items():
        words += f'; {name} fell back to eager ({reason})'
    return words


def compile_model(model, mode=None, backend='inductor', dynamic=None):
    """``torch.compile`` the backbone and neck of ``model`` (a bare backbone:
    itself), in place; call it after
    :func:`~mmhybrid.deploy.switch_to_deploy` and
    :func:`~mmhybrid.deploy.enable_bf16`, if at all.

    Args:
        model (nn.Module): an mmdet/mmseg/mmpretrain model or a backbone.
        mode (str, optional): one of :data:`COMPILE_MODES`;
            ``'reduce-overhead'`` (CUDA graphs) only for a model on CUDA.
        backend (str | callable): ``torch.compile``'s backend
            (``'inductor'``; tests use ``'eager'``/``'aot_eager'``, which
            need no C++ compiler).
        dynamic (bool, optional): ``torch.compile``'s ``dynamic``.

    Returns:
        :class:`Compiled`. Raises ``ValueError`` for an unknown mode,
        CUDA graphs off CUDA, or a model without a backbone or neck.
    """
    if mode is not None and mode not in COMPILE_MODES:
        raise ValueError(f'compile mode must be one of {COMPILE_MODES}, got '
                         f'{mode!r}')
    devices = {p.device.type for p in model.parameters()}
    if mode == 'reduce-overhead' and devices != {'cuda'}:
        raise ValueError(
            f"compile mode 'reduce-overhead' (CUDA graphs) needs a model on "
            f'CUDA; this one is on {", ".join(sorted(devices)) or "no device"}'
            ". Use the default mode there")
    parts = [(p.name, p.module) for p in model_parts(model)
             if p.role in COMPILED_ROLES]
    if not parts:
        if any(p.dim() == 4 for p in model.parameters()):
            parts = [(type(model).__name__, model)]  # a bare backbone
        else:
            raise ValueError(
                f'{type(model).__name__} has no backbone or neck (nor '
                'convolutions of its own) to torch.compile')
    done = {}
    for name, module in parts:
        current = module.forward
        if isinstance(current, CompiledForward):  # compiled before
            done[name] = current
            continue

        def eager(*args, _forward=current, **kwargs):
            return _forward(*args, **kwargs)

        compiled = torch.compile(eager, mode=None if mode == 'default'
                                 else mode, backend=backend, dynamic=dynamic)
        module.forward = done[name] = CompiledForward(module, name, compiled,
                                                      current)
    name = backend if isinstance(backend, str) else getattr(
        backend, '__name__', repr(backend))
    _log(f'inference: {compile_form(name, mode, list(done))}', logging.INFO)
    return Compiled(done, name, mode)


def add_compile_argument(parser, fallback_shown_in='the printed form'):
    """The ``--compile [MODE]`` option of the tools that predict
    (``tools/test.py``, ``tools/inference.py``): ``None`` when absent,
    ``'default'`` when given without a mode."""
    parser.add_argument(
        '--compile', nargs='?', const='default', default=None,
        choices=COMPILE_MODES, metavar='MODE',
        help='torch.compile the backbone and neck (after --deploy/--bf16; '
        'mmhybrid.deploy.compile_model); MODE: default, reduce-overhead '
        '(CUDA graphs, CUDA only), max-autotune. A part that fails to '
        f'compile runs eagerly; {fallback_shown_in} says which and why')
