"""The SSD head and anchors of CVNets' SSDLite (apple/ml-cvnets
``cvnets/models/detection/ssd.py``, ``cvnets/modules/ssd_heads.py``,
``cvnets/anchor_generator/ssd_anchor_generator.py``), as mmdet components:
the detector of the HarmoVision SSDLite-320 recipe."""
import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.dense_heads import SSDHead
from mmdet.models.task_modules.prior_generators import SSDAnchorGenerator
from mmdet.registry import TASK_UTILS

from ...registry import register_in, register_model


@register_model
class CVNetsSSDHead(SSDHead):
    """mmdet's :class:`SSDHead` (targets, hard-negative-mined softmax loss,
    NMS) with CVNets' per-level layers, and a working ``predict``.

    Per level, as CVNets' ``SSDHead``: a 1x1 projection (conv + BN + act)
    where ``proj_channels`` differs from the level's channels (kernel-3
    levels only), then ONE prediction conv whose output holds, per anchor,
    4 box deltas and the class scores: depthwise 3x3 + BN (no activation)
    then pointwise 1x1 with bias (``kernel_sizes`` 3), or a 1x1 conv with
    bias (``kernel_sizes`` 1, CVNets' global level). mmdet's SSDLite head
    instead has separate cls/reg towers and an activation after the
    depthwise conv.

    Predicting with mmdet 3.3's ``SSDHead`` raises ``AttributeError:
    'SSDHead' object has no attribute 'loss_cls'``: ``SSDHead.__init__``
    skips ``AnchorHead.__init__`` (which builds ``loss_cls``) because its loss
    is computed in ``loss_by_feat_single``, while
    ``BaseDenseHead._predict_by_feat_single`` reads
    ``self.loss_cls.custom_cls_channels``. This head sets ``loss_cls`` to
    ``None`` (no loss module: softmax scores, as SSD's).

    Args:
        proj_channels (Sequence[int], optional): CVNets' ``proj_channels``,
            one per level. ``None``: no projection.
        kernel_sizes (Sequence[int], optional): 3 or 1 per level. Defaults
            to 3 everywhere.
        **kwargs: :class:`SSDHead`'s arguments (``use_depthwise`` and
            ``stacked_convs`` must keep their defaults; ``norm_cfg`` and
            ``act_cfg`` are the projections' and the depthwise conv's).
    """

    def __init__(self, in_channels, proj_channels=None, kernel_sizes=None,
                 **kwargs):
        if kwargs.get('stacked_convs', 0) or kwargs.get('use_depthwise'):
            raise ValueError('CVNetsSSDHead has no stacked convs and its own '
                             'depthwise layers: leave stacked_convs and '
                             'use_depthwise unset')
        n = len(in_channels)
        for name, value in (('proj_channels', proj_channels),
                            ('kernel_sizes', kernel_sizes)):
            if value is not None and len(value) != n:
                raise ValueError(f'{name} needs one entry per level '
                                 f'({n}), got {value!r}')
        if kernel_sizes is not None and not set(kernel_sizes) <= {1, 3}:
            raise ValueError(f'kernel_sizes must be 1 or 3, got '
                             f'{kernel_sizes!r}')
        self.proj_channels = proj_channels
        self.kernel_sizes = kernel_sizes or [3] * n
        super().__init__(in_channels=in_channels, **kwargs)
        # read by BaseDenseHead._predict_by_feat_single (see the docstring)
        self.loss_cls = None

    def _init_layers(self):
        self.projs = nn.ModuleList()
        self.preds = nn.ModuleList()
        norm_cfg = self.norm_cfg or dict(type='BN')
        for i, (channels, num_priors) in enumerate(
                zip(self.in_channels, self.num_base_priors)):
            k = self.kernel_sizes[i]
            proj = None if self.proj_channels is None \
                else self.proj_channels[i]
            if proj is not None and proj != channels and k > 1:
                self.projs.append(
                    ConvModule(channels, proj, 1, norm_cfg=norm_cfg,
                               act_cfg=self.act_cfg))
                channels = proj
            else:
                self.projs.append(nn.Identity())
            out = num_priors * (4 + self.cls_out_channels)
            if k == 1:
                self.preds.append(nn.Conv2d(channels, out, 1))
            else:
                self.preds.append(
                    DepthwiseSeparableConvModule(
                        channels, out, 3, padding=1, norm_cfg=None,
                        act_cfg=None, dw_norm_cfg=norm_cfg))

    def forward(self, x):
        cls_scores, bbox_preds = [], []
        for feat, proj, pred, num_priors in zip(x, self.projs, self.preds,
                                                self.num_base_priors):
            out = pred(proj(feat))
            b, _, h, w = out.shape
            # per anchor: 4 deltas then the class scores (CVNets' layout)
            out = out.view(b, num_priors, 4 + self.cls_out_channels, h, w)
            bbox_preds.append(out[:, :, :4].reshape(b, -1, h, w))
            cls_scores.append(out[:, :, 4:].reshape(b, -1, h, w))
        return cls_scores, bbox_preds


class CVNetsSSDAnchorGenerator(SSDAnchorGenerator):
    """CVNets' SSD anchors as an mmdet prior generator.

    Level ``i`` of ``n`` gets boxes of side ``s_i`` and ``sqrt(s_i s_i+1)``
    and, per aspect ratio ``r``, ``s_i sqrt(r) x s_i / sqrt(r)`` and its
    transpose, where ``s = linspace(min_scale_ratio, max_scale_ratio, n + 1)
    * input_size`` (CVNets ``SSDAnchorGenerator``); mmdet's
    ``basesize_ratio_range`` spaces integer percentages instead. With
    ``clip``, widths and heights are clamped to ``input_size`` (CVNets clamps
    its normalised centre-size anchors to [0, 1]). Centres are at
    ``(j + 0.5) * stride``: for CVNets' centres ``(j + 0.5) / W`` give
    ``strides`` as ``input_size / feature map size``.

    Args:
        input_size (int): the (square) network input.
        strides (list): per level.
        ratios (list[list[float]]): aspect ratios per level (1 is implied).
        min_scale_ratio, max_scale_ratio (float): CVNets' scale range.
        clip (bool): clamp anchor sides to the input. Defaults to True.
        scale_major (bool): as mmdet's. Defaults to False.
    """

    def __init__(self, input_size, strides, ratios, min_scale_ratio=0.1,
                 max_scale_ratio=1.05, clip=True, scale_major=False):
        if not 0 < min_scale_ratio < max_scale_ratio:
            raise ValueError(f'need 0 < min_scale_ratio < max_scale_ratio, '
                             f'got {min_scale_ratio}, {max_scale_ratio}')
        scales = np.linspace(min_scale_ratio, max_scale_ratio,
                             len(strides) + 1) * input_size
        self.clip = clip
        self.clip_size = input_size
        self.min_scale_ratio = min_scale_ratio
        self.max_scale_ratio = max_scale_ratio
        super().__init__(strides=strides, ratios=ratios,
                         min_sizes=scales[:-1].tolist(),
                         max_sizes=scales[1:].tolist(),
                         input_size=input_size, scale_major=scale_major)

    def gen_base_anchors(self):
        anchors = super().gen_base_anchors()
        if not self.clip:
            return anchors
        clipped = []
        for level in anchors:
            wh = (level[:, 2:] - level[:, :2]).clamp(max=self.clip_size)
            ctr = (level[:, :2] + level[:, 2:]) / 2
            clipped.append(torch.cat([ctr - wh / 2, ctr + wh / 2], dim=1))
        return clipped


register_in(TASK_UTILS, CVNetsSSDAnchorGenerator)
