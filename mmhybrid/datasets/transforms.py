"""Segmentation evaluation at a fixed size (CVNets' protocol)."""
from mmcv.transforms import Resize
from mmseg.registry import TRANSFORMS

from ..registry import register_in


class ResizeImageAndLabel(Resize):
    """Resize the image (``interpolation``) AND its label map (nearest) to
    ``scale`` (w, h), aspect ratio not kept, and make that the size the
    prediction is evaluated at (``ori_shape`` becomes the new shape), so that
    mmseg's ``IoUMetric`` compares the prediction with the resized label.

    This is CVNets' segmentation validation (``_validation_transforms``:
    ``Resize`` of image and mask to ``image_augmentation.resize.size``, the
    protocol of the ``checkpoint_ema_score_*`` numbers), not mmseg's (the
    prediction resized back to the original label). Place it after
    ``LoadAnnotations``.
    """

    def __init__(self, scale, interpolation='bilinear'):
        super().__init__(scale=scale, keep_ratio=False,
                         interpolation=interpolation)

    def transform(self, results):
        if results.get('gt_seg_map') is None:
            raise ValueError('ResizeImageAndLabel resizes the label too: put '
                             'it after LoadAnnotations in the pipeline')
        results = super().transform(results)
        results['ori_shape'] = results['img_shape']
        return results


register_in(TRANSFORMS, ResizeImageAndLabel)
