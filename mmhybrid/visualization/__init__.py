"""Attention capture (forward hooks), drawing the records by their layout,
Grad-CAM, model / image helpers and plotting: the library of
``tools/analysis_tools/visualize_attention.py`` and
``tools/analysis_tools/eval_robustness.py``."""
from .capture import AttentionCapture, capture_attention
from .model import PixelNormalizer, default_cam_layer, load_image
from .plot import (overlay_heatmap, save_bar, save_heatmap_grid,
                   save_surface)
from .draw import (attention_heatmaps, record_heatmap,  # noqa: E402
                   write_attention_pngs)
from .attention import (build_classifier, grad_cam,  # noqa: E402
                        visualize_attention)

__all__ = [
    'AttentionCapture', 'capture_attention', 'PixelNormalizer',
    'default_cam_layer', 'load_image', 'overlay_heatmap', 'save_bar',
    'save_heatmap_grid', 'save_surface', 'attention_heatmaps',
    'record_heatmap', 'write_attention_pngs', 'build_classifier', 'grad_cam',
    'visualize_attention'
]
