# mmhybrid: torchvision stand-in for mmcv._ext (remove: make mmcv-ext-remove)
"""A stand-in for mmcv's compiled ``mmcv._ext``, in plain torch and
torchvision, for an mmcv installed without its compiled ops (``mmcv-lite``).

``make install`` (``tools/misc/install_stack.sh``, ``MMCV=auto`` or
``MMCV=lite``) installs ``mmcv-lite==2.1.0`` where no working compiled mmcv
is there, and copies this file to ``<mmcv>/_ext.py``
(:func:`mmhybrid.engine.install_mmcv_ext_stand_in`, or its command line
``tools/misc/mmcv_ext_torchvision.py MMCV_DIR``). One command removes it
again: ``make mmcv-ext-remove`` (``python tools/misc/mmcv_ext_torchvision.py
--remove MMCV_DIR``). The first line of this file is the marker by which the
installer recognises it; a compiled ``_ext*.so`` is never shadowed nor
removed.

The file imports only torch and torchvision (it is imported as part of mmcv,
before mmhybrid). It implements the compiled ops that the project's configs
call (found by recording a training step and a prediction of every
detection and segmentation config: ``tools/misc/mmcv_ext_usage.py``), each
computing what mmcv 2.1.0's kernel computes:

- ``nms`` (offset 0; mmdet's default): the order is mmcv's own, the same
  ``scores.sort(0, descending=True)`` call as mmcv's CPU and CUDA kernels
  (tied scores keep the order that sort gives), then torchvision's kernel on
  boxes in that order with distinct ranks as scores, so torchvision's own
  tie-breaking never enters; the IoU threshold is rounded to float32 first,
  as mmcv's kernels take it;
- ``roi_align_forward`` / ``roi_align_backward`` (average pooling only):
  torchvision's ``roi_align`` and its backward op;
- ``sigmoid_focal_loss_forward`` / ``sigmoid_focal_loss_backward`` (mmdet's
  ``FocalLoss`` calls them on CUDA only, e.g. training RetinaNet): the
  formulas of mmcv's CUDA kernel, elementwise in torch.

The same torch code runs on CPU and CUDA. Every other op of mmcv imports, so
that mmcv.ops, mmdet and mmseg import as usual, and raises an error naming
the op when called.
"""
import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision)
from torchvision.ops import nms as _tv_nms
from torchvision.ops import roi_align as _tv_roi_align

#: the marker line the installer recognises this file by
MARKER = ('# mmhybrid: torchvision stand-in for mmcv._ext '
          '(remove: make mmcv-ext-remove)')
#: the ops implemented here
IMPLEMENTED = ('nms', 'roi_align_forward', 'roi_align_backward',
               'sigmoid_focal_loss_forward', 'sigmoid_focal_loss_backward')
FULL_MMCV_HINT = ('for every op of mmcv, build full mmcv with its compiled '
                  'ops: `make install MMCV=full` (needs a C++ compiler, and '
                  'nvcc matching torch for CUDA)')
_FLT_MIN = torch.finfo(torch.float32).tiny  # FLT_MIN of mmcv's kernel


def _unavailable(what):
    return NotImplementedError(
        f'mmcv._ext stand-in (mmhybrid, torchvision-backed): {what} is not '
        f'available; {FULL_MMCV_HINT}')


def nms(boxes, scores, iou_threshold, offset=0):
    if offset != 0:
        raise _unavailable(f"the op 'nms' with offset={offset} (torchvision "
                           'computes offset 0 only)')
    if boxes.numel() == 0:
        return boxes.new_empty((0, ), dtype=torch.long)
    if boxes.size(0) > 2**24:
        raise _unavailable(f"the op 'nms' on {boxes.size(0)} boxes (more "
                           'than float32 ranks can tell apart)')
    # mmcv's kernels: order = scores.sort(0, descending=True), then keep in
    # that order; the same call gives the same order for tied scores
    order = scores.sort(0, descending=True)[1]
    ranks = torch.arange(order.numel(), 0, -1, dtype=boxes.dtype,
                         device=boxes.device)
    # mmcv's kernels compare the float32 IoU with a float32 threshold
    thr = float(torch.tensor(float(iou_threshold), dtype=torch.float32))
    kept = _tv_nms(boxes.index_select(0, order), ranks, thr)
    return order.index_select(0, kept.sort()[0])


def _check_avg(pool_mode):
    if pool_mode != 1:
        raise _unavailable("the op 'roi_align' with pool_mode='max' "
                           '(torchvision pools by average only)')


def roi_align_forward(input, rois, output, argmax_y, argmax_x, aligned_height,
                      aligned_width, spatial_scale, sampling_ratio, pool_mode,
                      aligned):
    _check_avg(pool_mode)
    output.copy_(
        _tv_roi_align(input, rois.to(input.dtype),
                      (aligned_height, aligned_width), spatial_scale,
                      sampling_ratio, aligned))


def roi_align_backward(grad_output, rois, argmax_y, argmax_x, grad_input,
                       aligned_height, aligned_width, spatial_scale,
                       sampling_ratio, pool_mode, aligned):
    _check_avg(pool_mode)
    n, c, h, w = grad_input.shape
    grad_input.copy_(
        torch.ops.torchvision._roi_align_backward(
            grad_output, rois.to(grad_output.dtype), spatial_scale,
            aligned_height, aligned_width, n, c, h, w, sampling_ratio,
            aligned))


def _focal_terms(input, target, weight, alpha):
    """p, the positive/negative flags and the per-row weights of mmcv's
    sigmoid focal loss kernels (``input`` N x C, ``target`` N)."""
    if input.dim() != 2 or target.dim() != 1 or \
            target.size(0) != input.size(0):
        raise ValueError(
            'sigmoid_focal_loss: input must be N x C and target N, got '
            f'{tuple(input.shape)} and {tuple(target.shape)}')
    one = torch.ones((), dtype=input.dtype, device=input.device)
    alpha = one * alpha  # the kernel's T alpha, and T(1.) - alpha
    classes = torch.arange(input.size(1), device=input.device)
    flag_p = target.view(-1, 1) == classes.view(1, -1)
    scale = None
    if weight is not None and weight.numel() > 0:
        if bool((target < 0).any()) or \
                bool((target >= weight.numel()).any()):
            raise ValueError(
                'sigmoid_focal_loss: a target is outside the class weights '
                f'(weight has {weight.numel()})')
        scale = weight.index_select(0, target).view(-1, 1)
    return alpha, one - alpha, flag_p, scale


def sigmoid_focal_loss_forward(input, target, weight, output, gamma=2.0,
                               alpha=0.25):
    alpha, one_minus_alpha, flag_p, scale = _focal_terms(
        input, target, weight, alpha)
    p = 1. / (1. + torch.exp(-input))
    # (1 - p)**gamma * log(p) and p**gamma * log(1 - p)
    term_p = (1. - p).pow(gamma) * torch.log(p.clamp_min(_FLT_MIN))
    term_n = p.pow(gamma) * torch.log((1. - p).clamp_min(_FLT_MIN))
    out = torch.where(flag_p, -alpha * term_p, -one_minus_alpha * term_n)
    if scale is not None:
        out = out * scale
    output.copy_(out)


def sigmoid_focal_loss_backward(input, target, weight, grad_input, gamma=2.0,
                                alpha=0.25):
    alpha, one_minus_alpha, flag_p, scale = _focal_terms(
        input, target, weight, alpha)
    p = 1. / (1. + torch.exp(-input))
    # (1 - p)**gamma * (1 - p - gamma*p*log(p))
    term_p = (1. - p).pow(gamma) * (
        (1. - p) - gamma * p * torch.log(p.clamp_min(_FLT_MIN)))
    # p**gamma * (gamma * (1 - p) * log(1 - p) - p)
    term_n = p.pow(gamma) * (
        gamma * (1. - p) * torch.log((1. - p).clamp_min(_FLT_MIN)) - p)
    grad = torch.where(flag_p, -alpha * term_p, -one_minus_alpha * term_n)
    if scale is not None:
        grad = grad * scale
    grad_input.copy_(grad)


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)

    def unavailable(*args, **kwargs):
        raise _unavailable(f'the op {name!r} (implemented here: '
                           f'{", ".join(IMPLEMENTED)})')

    unavailable.__name__ = name
    return unavailable
