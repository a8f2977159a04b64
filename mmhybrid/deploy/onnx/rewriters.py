"""mmhybrid's mends to mmdeploy 1.3.1, registered on mmdeploy's own extension
points (``FUNCTION_REWRITER`` / ``SYMBOLIC_REWRITER``) for the onnxruntime
backend, and only while :func:`mmdeploy_rewriters` is entered: on exit every
record is removed from mmdeploy's registries again, so nothing outlives an
export (mmhybrid is a guest, :mod:`tests.test_engine.test_guest`).

What they mend, each at its cause:

* ``adaptive_avg_pool2d``: mmdeploy's default rewrite turns it into a fixed
  ``avg_pool2d`` of kernel ``H // out``, wrong where ``out`` does not divide
  ``H`` (UperNet's pyramid pooling of scales 1, 2, 3, 6 on a 16x16 map at
  512 px). Here it is PyTorch's own definition, bin ``i`` of an axis of
  length ``n`` averaging ``[floor(i n / o), ceil((i + 1) n / o))``, written as
  two averaging matrices built from the map's own shape: exact at any size,
  dynamic shapes included, with standard ops (``Range``, ``MatMul``).
* ``RPNHead.predict_by_feat``: mmdeploy runs one NMS over all levels with its
  deploy config's score threshold; mmdet runs a batched NMS with the level as
  the class (``mmdet.models.dense_heads.RPNHead._bbox_post_process``), no
  score threshold, after dropping boxes no wider/taller than
  ``min_bbox_size``. The rewrite puts each level's score in its own column,
  so ONNX's per-class ``NonMaxSuppression`` is mmdet's per-level NMS.
* ``BaseDenseHead.predict_by_feat`` (RetinaNet, SSD): mmdeploy keeps the
  ``nms_pre`` best anchors of a level with all their classes; mmdet the
  ``nms_pre`` best (anchor, class) pairs above ``score_thr``, then drops
  boxes under ``min_bbox_size``. Here as mmdet, with per-class NMS of
  pairs as for ``BBoxHead``.
* ``BBoxHead.predict_by_feat``: mmdeploy gives every class of a RoI the box
  of the RoI's best class; mmdet keeps each class's own box
  (``reg_class_agnostic=False``). Here each (RoI, class) pair is a box with
  its score in its class's column: per-class NMS as mmdet's.
* ``SingleRoIExtractor.forward``: mmdeploy's rewrite scatters each
  level's RoI features into a zero tensor; the ONNX ``ScatterND`` keeps the
  traced RoI count, so another image with another count fails. Here each
  level pools its own RoIs and one gather restores the RoI order.
* mmseg's ``Upsample.forward``: its output size is Python ints, constants
  in the trace, so a dynamic graph resized other sizes wrongly (Semantic
  FPN at a second size: 98.6% of pixels agreed); here ``F.interpolate``
  with the scale factor, same size and sampling, dynamic.
* mmcv's ``RoIAlign`` symbolic: mmdeploy's imports
  ``torch.onnx.symbolic_opset9._cast_Long``, which torch removed; this one
  emits the standard ``RoiAlign`` (opset >= 16: ``half_pixel`` is mmcv's
  ``aligned=True``, exact) with a plain ``Cast``.
* ``FCNMaskHead.predict_by_feat`` (mask pasting at image size): mmdeploy
  samples every mask over the whole image with ``grid_sample`` (a full
  ``GridSample`` of N x H x W points, the slowest node of a Mask R-CNN
  with 100 detections). Bilinear sampling with zero padding is separable:
  the weight of mask cell ``(i, j)`` at pixel ``(y, x)`` is ``wy(y, i)
  wx(x, j)``, so the pasted masks are ``Wy @ m @ Wx^T`` with per-box
  ``(H, 28)`` and ``(W, 28)`` matrices of the same sample positions
  (mmdet's ``_do_paste_mask``): the same values, two ``MatMul``.
* ``grid_sampler``: mmdeploy emits its custom
  ``mmdeploy::grid_sampler``; from opset 16 on ONNX has ``GridSample``, which
  stock onnxruntime runs.
* ``F.scaled_dot_product_attention``: mmdeploy's default rewrite (every
  backend) divides the logits by ``scale`` where PyTorch multiplies by it,
  takes ``scale`` as the 6th positional argument (PyTorch: ``is_causal``)
  and inverts a boolean mask with Python's ``not``. A model passing
  ``scale=head_dim ** -0.5`` (HarmoVision's windowed attention) was exported
  with its logits multiplied by ``head_dim ** 0.5`` instead: SSDLite 180/200
  detections matched, DeepLabv3 96.1% of pixels. Here PyTorch's own
  definition: ``softmax(q k^T * scale + mask) v``, with standard ops.
"""
from contextlib import contextmanager

import torch

BACKEND = 'onnxruntime'
MIN_OPSET = 16  # RoiAlign's coordinate_transformation_mode, GridSample


def _axis_pool_matrix(length_like, out):
    """``(out, n)`` averaging matrix of adaptive pooling along an axis whose
    ``n`` positions are given by the 1-D tensor ``length_like`` (built from
    the map, so a dynamic ``n`` stays dynamic in the graph)."""
    pos = torch.cumsum(torch.ones_like(length_like), 0) - 1  # 0..n-1
    n = pos[-1:] + 1
    i = torch.arange(out, dtype=pos.dtype, device=pos.device)
    start = torch.floor(i * n / out)
    end = torch.ceil((i + 1) * n / out)
    inside = (pos[None] >= start[:, None]) & (pos[None] < end[:, None])
    inside = inside.to(pos.dtype)
    return inside / inside.sum(1, keepdim=True)


def adaptive_avg_pool2d_exact(input, output_size):
    """``F.adaptive_avg_pool2d`` as two matrix products (see module doc)."""
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    oh, ow = (int(o) for o in output_size)
    if oh == 1 and ow == 1:
        return input.mean((-2, -1), keepdim=True)
    ph = _axis_pool_matrix(input[0, 0, :, 0].float(), oh).to(input.dtype)
    pw = _axis_pool_matrix(input[0, 0, 0, :].float(), ow).to(input.dtype)
    return torch.matmul(torch.matmul(ph, input), pw.transpose(0, 1))


def _adaptive_avg_pool2d_rewrite(input, output_size):
    return adaptive_avg_pool2d_exact(input, output_size)


def _rpn_predict_by_feat_rewrite(self, cls_scores, bbox_preds,
                                 score_factors=None, batch_img_metas=None,
                                 cfg=None, rescale=False, with_nms=True,
                                 **kwargs):
    """mmdet's RPN post-processing (per-level top-k, decode, drop small
    boxes, NMS per level, ``max_per_img``) with standard ops; returns
    ``(dets, labels)`` as mmdeploy's own rewrite does."""
    from mmdeploy.codebase.mmdet.deploy import gather_topk
    from mmdeploy.mmcv.ops import multiclass_nms
    from mmdeploy.utils import is_dynamic_shape
    from mmdeploy.core import FUNCTION_REWRITER
    ctx = FUNCTION_REWRITER.get_context()
    cfg = self.test_cfg if cfg is None else cfg
    num_levels = len(cls_scores)
    featmap_sizes = [s.shape[-2:] for s in cls_scores]
    mlvl_anchors = self.prior_generator.grid_priors(
        featmap_sizes, device=cls_scores[0].device)
    batch_size = cls_scores[0].shape[0]
    nms_pre = cfg.get('nms_pre', -1)
    dynamic = is_dynamic_shape(ctx.cfg)
    boxes, scores, levels = [], [], []
    for level, (cls_score, bbox_pred, anchors) in enumerate(
            zip(cls_scores, bbox_preds, mlvl_anchors)):
        cls_score = cls_score.permute(0, 2, 3, 1)
        if self.use_sigmoid_cls:
            score = cls_score.reshape(batch_size, -1).sigmoid()
        else:
            score = cls_score.reshape(batch_size, -1, 2).softmax(-1)[..., 0]
        dim = self.bbox_coder.encode_size
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(batch_size, -1, dim)
        anchors = (anchors if dynamic else anchors.data).unsqueeze(0)
        anchors = anchors.expand(batch_size, -1, -1)
        if nms_pre > 0:
            # mmdet keeps min(nms_pre, n); mmdeploy's topk rewrite clamps k
            score, inds = score.topk(nms_pre, dim=1)
            bbox_pred = gather_topk(bbox_pred, inds=inds,
                                    batch_size=batch_size, is_batched=True)
            anchors = gather_topk(anchors, inds=inds,
                                  batch_size=batch_size, is_batched=True)
        boxes.append(self.bbox_coder.decode(
            anchors, bbox_pred, max_shape=batch_img_metas[0]['img_shape']))
        scores.append(score)
        levels.append(torch.full_like(score, level, dtype=torch.long))
    boxes = torch.cat(boxes, 1)
    scores = torch.cat(scores, 1)
    levels = torch.cat(levels, 1)
    if not with_nms:
        return boxes, scores[..., None]
    min_size = cfg.get('min_bbox_size', -1)
    if min_size >= 0:
        w = boxes[..., 2] - boxes[..., 0]
        h = boxes[..., 3] - boxes[..., 1]
        scores = torch.where((w > min_size) & (h > min_size), scores,
                             torch.zeros_like(scores))
    # the level is the class: NonMaxSuppression per class = per level
    one_hot = levels[..., None] == torch.arange(
        num_levels, device=levels.device)
    level_scores = torch.where(one_hot, scores[..., None],
                               torch.zeros_like(scores[..., None]))
    max_per_img = cfg.get('max_per_img', 1000)
    dets, _ = multiclass_nms(
        boxes, level_scores, max_per_img, nms_type='nms',
        iou_threshold=cfg.nms.get('iou_threshold', 0.7),
        score_threshold=0., pre_top_k=-1, keep_top_k=max_per_img)
    return dets, torch.zeros_like(dets[..., 4], dtype=torch.long)


def _dense_head_predict_by_feat_rewrite(self, cls_scores, bbox_preds,
                                        score_factors=None,
                                        batch_img_metas=None, cfg=None,
                                        rescale=False, with_nms=True,
                                        **kwargs):
    """mmdet's ``BaseDenseHead`` post-processing (RetinaNet, SSD, ...):
    per level the ``nms_pre`` best (anchor, class) pairs above
    ``score_thr`` (``filter_scores_and_topk``), decode, score factors, drop
    boxes no wider/taller than ``min_bbox_size``, NMS per class,
    ``max_per_img``. mmdeploy keeps the ``nms_pre`` best anchors by their
    best class instead, with all their classes; where pairs and anchors
    pick differently (SSD's softmax), detections differ. Each pair is a box
    with its score in its class's column, so ONNX's per-class
    ``NonMaxSuppression`` is mmdet's."""
    from mmdeploy.codebase.mmdet.deploy import gather_topk
    from mmdeploy.mmcv.ops import multiclass_nms
    cfg = self.test_cfg if cfg is None else cfg
    with_score_factors = score_factors is not None and \
        score_factors[0] is not None
    featmap_sizes = [s.shape[-2:] for s in cls_scores]
    mlvl_priors = self.prior_generator.grid_priors(
        featmap_sizes, dtype=bbox_preds[0].dtype,
        device=bbox_preds[0].device)
    batch_size = cls_scores[0].shape[0]
    num_classes = self.cls_out_channels if self.use_sigmoid_cls \
        else self.cls_out_channels - 1
    nms_pre = cfg.get('nms_pre', -1)
    score_thr = cfg.get('score_thr', 0)
    dim = self.bbox_coder.encode_size
    boxes, scores, labels = [], [], []
    for level, (cls_score, bbox_pred, priors) in enumerate(
            zip(cls_scores, bbox_preds, mlvl_priors)):
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(batch_size, -1, dim)
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(
            batch_size, -1, self.cls_out_channels)
        if self.use_sigmoid_cls:
            score = cls_score.sigmoid()
        else:
            score = cls_score.softmax(-1)[..., :-1]
        if with_score_factors:
            factor = score_factors[level].permute(0, 2, 3, 1).reshape(
                batch_size, -1, 1).sigmoid()
            score_and_factor = torch.cat([score, factor], -1)
        # (anchor, class) pairs above the threshold, the best nms_pre
        pair = torch.where(score > score_thr, score,
                           score.new_zeros(1)).reshape(batch_size, -1)
        if nms_pre > 0:
            pair, inds = pair.topk(nms_pre, dim=1)
        else:
            inds = torch.arange(pair.shape[1], device=pair.device)[
                None].expand(batch_size, -1)
        anchor = torch.div(inds, num_classes, rounding_mode='floor')
        label = inds - anchor * num_classes
        priors = priors[None].expand(batch_size, -1, -1)
        box = self.bbox_coder.decode(
            gather_topk(priors, inds=anchor, batch_size=batch_size,
                        is_batched=True),
            gather_topk(bbox_pred, inds=anchor, batch_size=batch_size,
                        is_batched=True),
            max_shape=batch_img_metas[0]['img_shape'])
        if with_score_factors:
            factor = gather_topk(score_and_factor, inds=anchor,
                                 batch_size=batch_size,
                                 is_batched=True)[..., -1]
            pair = pair * factor
        boxes.append(box)
        scores.append(pair)
        labels.append(label)
    boxes = torch.cat(boxes, 1)
    scores = torch.cat(scores, 1)
    labels = torch.cat(labels, 1)
    min_size = cfg.get('min_bbox_size', -1)
    if min_size >= 0:
        w = boxes[..., 2] - boxes[..., 0]
        h = boxes[..., 3] - boxes[..., 1]
        scores = torch.where((w > min_size) & (h > min_size), scores,
                             scores.new_zeros(1))
    if not with_nms:
        return boxes, scores[..., None]
    one_hot = labels[..., None] == torch.arange(num_classes,
                                                device=labels.device)
    pair_scores = torch.where(one_hot, scores[..., None], scores.new_zeros(1))
    keep = cfg.get('max_per_img', 100)
    return multiclass_nms(
        boxes, pair_scores, keep, nms_type=cfg.nms.get('type', 'nms'),
        iou_threshold=cfg.nms.get('iou_threshold', 0.5),
        score_threshold=0., pre_top_k=-1, keep_top_k=keep)


def _bbox_head_predict_by_feat_rewrite(self, rois, cls_scores, bbox_preds,
                                       batch_img_metas, rcnn_test_cfg=None,
                                       rescale=False):
    """mmdet's ``BBoxHead`` post-processing: every (RoI, class) pair keeps
    its own class's box (``reg_class_agnostic=False``), scores above
    ``score_thr``, NMS per class, ``max_per_img`` (mmdet
    ``multiclass_nms``). mmdeploy keeps only the box of each RoI's best
    class for all classes. Each pair is a box of its own here, its score in
    its class's column, so ONNX's per-class ``NonMaxSuppression`` is
    mmdet's."""
    import torch.nn.functional as F
    from mmdeploy.mmcv.ops import multiclass_nms
    img_shape = batch_img_metas[0]['img_shape']
    if self.custom_cls_channels:
        scores = self.loss_cls.get_activation(cls_scores)
    else:
        scores = F.softmax(cls_scores, dim=-1)
    num_classes = self.num_classes
    batch_size, num_rois = scores.shape[:2]
    scores = scores[..., :num_classes]
    if bbox_preds is not None:
        boxes = self.bbox_coder.decode(rois[..., 1:], bbox_preds,
                                       max_shape=img_shape)
    else:
        boxes = rois[..., 1:].clone()
    boxes = boxes.reshape(batch_size, num_rois, -1, 4).expand(
        -1, -1, num_classes, -1).reshape(batch_size, -1, 4)
    labels = torch.arange(num_classes, device=scores.device)
    pair_scores = torch.where(
        labels[None, None] == labels[:, None][None], scores[..., None],
        scores.new_zeros(1)).reshape(batch_size, -1, num_classes)
    keep = rcnn_test_cfg.get('max_per_img', 100)
    return multiclass_nms(
        boxes, pair_scores, keep, nms_type=rcnn_test_cfg.nms.get('type'),
        iou_threshold=rcnn_test_cfg.nms.get('iou_threshold', 0.5),
        score_threshold=rcnn_test_cfg.get('score_thr', 0.05),
        pre_top_k=-1, keep_top_k=keep)


def _paste_weights(lo, hi, size, cells):
    """``(N, size, cells)`` bilinear weights of the ``cells`` mask cells at
    the pixel centres ``0.5 .. size - 0.5`` of an image axis, for boxes
    spanning ``[lo, hi)`` (``(N,)``): ``grid_sample``'s, with zero padding
    and ``align_corners=False``, on mmdet's ``_do_paste_mask`` grid."""
    pos = torch.arange(0, size, device=lo.device).to(torch.float32) + 0.5
    grid = (pos - lo[:, None]) / (hi - lo)[:, None] * 2 - 1  # N, size
    at = ((grid + 1) * cells - 1) / 2  # in cells
    cell = torch.arange(0, cells, device=lo.device).to(torch.float32)
    return (1 - (at[..., None] - cell).abs()).clamp(min=0)


def paste_masks(masks, boxes, img_h, img_w):
    """``masks`` (N, h, w) pasted into ``boxes`` (N, 4: x1, y1, x2, y2) of an
    ``img_h`` x ``img_w`` image: mmdet's ``_do_paste_mask`` (bilinear
    ``grid_sample``, ``align_corners=False``), written as the separable
    product ``Wy @ masks @ Wx^T``."""
    x0, y0, x1, y1 = boxes.unbind(1)
    wy = _paste_weights(y0, y1, img_h, masks.shape[-2])  # N, H, h
    wx = _paste_weights(x0, x1, img_w, masks.shape[-1])  # N, W, w
    return wy @ masks.to(torch.float32) @ wx.transpose(1, 2)  # N, H, W


def _fcn_mask_head_predict_by_feat_rewrite(self, mask_preds, results_list,
                                          batch_img_metas, rcnn_test_cfg,
                                          rescale=False,
                                          activate_map=False):
    """mmdeploy's ``FCNMaskHead`` post-processing (each detection's mask
    of its label, pasted at the input size with ``export_postprocess_mask``,
    thresholded at ``mask_thr_binary``), pasting with
    :func:`paste_masks` instead of a whole-image ``grid_sample``."""
    from mmdeploy.codebase.mmdet.deploy import get_post_processing_params
    from mmdeploy.core import FUNCTION_REWRITER
    ctx = FUNCTION_REWRITER.get_context()
    img_h, img_w = batch_img_metas[0]['img_shape'][:2]
    dets, labels = results_list
    dets = dets.view(-1, 5)
    labels = labels.view(-1)
    masks = mask_preds.sigmoid()
    if not self.class_agnostic:
        inds = torch.arange(masks.shape[0], device=dets.device)
        masks = masks[inds, labels][:, None]
    if not get_post_processing_params(ctx.cfg).get(
            'export_postprocess_mask', False):
        return masks
    masks = paste_masks(masks[:, 0], dets[:, :4], img_h, img_w)
    threshold = rcnn_test_cfg.mask_thr_binary
    if threshold >= 0:
        masks = masks >= threshold
    return masks


def _roi_extractor_forward_rewrite(self, feats, rois, roi_scale_factor=None):
    """mmdet's ``SingleRoIExtractor.forward`` (RoIs pooled on the level
    ``map_roi_levels`` picks) without an in-place scatter: each level pools
    its own RoIs, and one gather puts them back in RoI order. mmdeploy's
    rewrite scatters into a zero tensor, whose ONNX ``ScatterND`` keeps the
    traced RoI count in a ``Reshape`` (a wrong count fails at run time)."""
    num_levels = len(feats)
    if roi_scale_factor is not None:
        rois = self.roi_rescale(rois, roi_scale_factor)
    if num_levels == 1:
        return self.roi_layers[0](feats[0], rois)
    target_lvls = self.map_roi_levels(rois, num_levels)
    pooled, order = [], []
    for i in range(num_levels):
        inds = (target_lvls == i).nonzero(as_tuple=False).squeeze(1)
        pooled.append(self.roi_layers[i](feats[i], rois[inds]))
        order.append(inds)
    order = torch.cat(order)
    # position of RoI j in the level-ordered list: the inverse permutation
    inverse = torch.argsort(order)
    return torch.cat(pooled)[inverse]


def _upsample_forward_rewrite(self, x):
    """mmseg's ``Upsample`` (Semantic FPN's scale heads) computes its
    output size as Python ints (``int(t * scale_factor)``), which a trace
    keeps as constants: a dynamic-shape graph then resizes other input
    sizes to the traced size. ``F.interpolate`` with the scale factor gives
    the same size (``floor(t * scale)``) and sampling, and stays dynamic."""
    import torch.nn.functional as F
    if self.size:
        return F.interpolate(x, self.size, None, self.mode,
                             self.align_corners)
    return F.interpolate(x, None, self.scale_factor, self.mode,
                         self.align_corners)


def _roi_align_symbolic(g, input, rois, output_size, spatial_scale,
                        sampling_ratio, pool_mode, aligned):
    from torch.onnx.symbolic_opset11 import select
    from mmdeploy.core import SYMBOLIC_REWRITER
    from mmdeploy.utils import get_ir_config
    opset = get_ir_config(SYMBOLIC_REWRITER.get_context().cfg).get(
        'opset_version', 11)
    if opset < MIN_OPSET:
        raise RuntimeError(
            f'RoIAlign exports exactly only from opset {MIN_OPSET} '
            f'(onnx RoiAlign coordinate_transformation_mode); got {opset}')
    first = g.op('Constant', value_t=torch.tensor([0], dtype=torch.long))
    batch_indices = g.op('Cast', g.op(
        'Squeeze', select(g, rois, 1, first),
        g.op('Constant', value_t=torch.tensor([1], dtype=torch.long))),
        to_i=7)  # int64
    rois = select(g, rois, 1, g.op(
        'Constant', value_t=torch.tensor([1, 2, 3, 4], dtype=torch.long)))
    return g.op(
        'RoiAlign', input, rois, batch_indices,
        output_height_i=output_size[0], output_width_i=output_size[1],
        spatial_scale_f=spatial_scale, sampling_ratio_i=sampling_ratio,
        mode_s=pool_mode,
        coordinate_transformation_mode_s='half_pixel' if aligned
        else 'output_half_pixel')


def _grid_sampler_symbolic(g, input, grid, mode, padding_mode,
                           align_corners=False):
    from torch.onnx.symbolic_opset16 import grid_sampler
    return grid_sampler(g, input, grid, mode, padding_mode, align_corners)


# ------------------------------------------ scaled dot-product attention --
def scaled_dot_product_attention_exact(query, key, value, attn_mask=None,
                                       dropout_p=0., is_causal=False,
                                       scale=None, enable_gqa=False):
    """``F.scaled_dot_product_attention`` by its documented definition, in
    PyTorch's argument order: logits ``q k^T * scale`` (default scale
    ``1 / sqrt(E)``), a boolean mask keeps ``True`` positions, a float mask
    is added, ``is_causal`` keeps the lower triangle; dropout as PyTorch's
    (applied whenever ``dropout_p > 0``)."""
    if enable_gqa:
        rep = query.size(-3) // key.size(-3)
        key = key.repeat_interleave(rep, -3)
        value = value.repeat_interleave(rep, -3)
    if scale is None:
        scale = query.size(-1)**-0.5
    attn = torch.matmul(query, key.transpose(-2, -1)) * scale
    if is_causal:
        keep = torch.ones(query.size(-2), key.size(-2), dtype=torch.bool,
                          device=query.device).tril()
        attn = attn.masked_fill(~keep, float('-inf'))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn = attn.masked_fill(~attn_mask, float('-inf'))
        else:
            attn = attn + attn_mask
    attn = torch.softmax(attn, -1)
    if dropout_p > 0:
        attn = torch.dropout(attn, dropout_p, True)
    return torch.matmul(attn, value)


def _sdpa_rewrite(query, key, value, attn_mask=None, dropout_p=0.,
                  is_causal=False, scale=None, enable_gqa=False):
    return scaled_dot_product_attention_exact(
        query, key, value, attn_mask, dropout_p, is_causal, scale,
        enable_gqa)


#: (registry name, target, rewrite, register kwargs)
FUNCTIONS = [
    ('torch.nn.functional.adaptive_avg_pool2d',
     _adaptive_avg_pool2d_rewrite),
    ('mmdet.models.dense_heads.rpn_head.RPNHead.predict_by_feat',
     _rpn_predict_by_feat_rewrite),
    ('mmdet.models.dense_heads.base_dense_head.BaseDenseHead.'
     'predict_by_feat', _dense_head_predict_by_feat_rewrite),
    ('mmdet.models.roi_heads.SingleRoIExtractor.forward',
     _roi_extractor_forward_rewrite),
    ('mmdet.models.roi_heads.bbox_heads.bbox_head.BBoxHead.predict_by_feat',
     _bbox_head_predict_by_feat_rewrite),
    ('mmseg.models.utils.wrappers.Upsample.forward',
     _upsample_forward_rewrite),
    ('torch.nn.functional.scaled_dot_product_attention', _sdpa_rewrite),
    ('mmdet.models.roi_heads.mask_heads.fcn_mask_head.FCNMaskHead.'
     'predict_by_feat', _fcn_mask_head_predict_by_feat_rewrite),
]
SYMBOLICS = [
    ('mmcv.ops.roi_align.__self__', _roi_align_symbolic,
     dict(arg_descriptors=['v', 'v', 'is', 'f', 'i', 's', 'i'])),
    ('grid_sampler', _grid_sampler_symbolic, dict(is_pytorch=True)),
]


def _front(registry, name, obj):
    """Move our record of ``name`` first: mmdeploy uses the first valid
    non-default rewriter, and may hold its own for our backend."""
    records = registry._rewrite_records[name]
    ours = [r for r in records if r['_object'] is obj]
    for r in ours:
        records.remove(r)
    records[:0] = ours


@contextmanager
def mmdeploy_rewriters():
    """Register mmhybrid's rewriters (see module doc) in mmdeploy's
    ``FUNCTION_REWRITER`` and ``SYMBOLIC_REWRITER`` for the onnxruntime
    backend; remove them on exit (also on error)."""
    from mmdeploy.core import FUNCTION_REWRITER, SYMBOLIC_REWRITER
    done = []
    try:
        for name, fn in FUNCTIONS:
            FUNCTION_REWRITER.register_rewriter(name, backend=BACKEND)(fn)
            _front(FUNCTION_REWRITER._registry, name, fn)
            done.append((FUNCTION_REWRITER._registry, fn))
        for name, fn, kwargs in SYMBOLICS:
            SYMBOLIC_REWRITER.register_symbolic(name, backend=BACKEND,
                                                **kwargs)(fn)
            _front(SYMBOLIC_REWRITER._registry, name, fn)
            done.append((SYMBOLIC_REWRITER._registry, fn))
        yield
    finally:
        for registry, fn in done:
            registry.remove_record(fn)


def registered_objects():
    """Every object in mmdeploy's rewriter registries (for tests that check
    that nothing of ours is left behind)."""
    from mmdeploy.core import FUNCTION_REWRITER, SYMBOLIC_REWRITER
    return [r['_object'] for reg in (FUNCTION_REWRITER._registry,
                                     SYMBOLIC_REWRITER._registry)
            for recs in reg._rewrite_records.values() for r in recs]
