"""Attention capture (forward hooks), drawing the records by their layout,
model / image helpers and plotting: what
:func:`mmhybrid.apis.visualize_attention` (with Grad-CAM) and
:func:`mmhybrid.apis.eval_robustness` draw with."""
from .capture import AttentionCapture, capture_attention
from .model import PixelNormalizer, default_cam_layer, load_image
from .plot import (overlay_heatmap, save_bar, save_heatmap_grid,
                   save_surface)
from .draw import (attention_heatmaps, record_heatmap,  # noqa: E402
                   write_attention_pngs)
from .predictions import (draw_detections, score_text, upscale,
                          view_scale)

__all__ = [
    'AttentionCapture', 'capture_attention', 'PixelNormalizer',
    'default_cam_layer', 'load_image', 'overlay_heatmap', 'save_bar',
    'save_heatmap_grid', 'save_surface', 'attention_heatmaps',
    'record_heatmap', 'write_attention_pngs', 'draw_detections',
    'score_text', 'upscale', 'view_scale'
]
