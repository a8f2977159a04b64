"""Attention capture (forward hooks), model / image helpers and plotting
for ``tools/analysis_tools/visualize_attention.py`` and
``tools/analysis_tools/eval_robustness.py``."""
from .capture import AttentionCapture, capture_attention
from .model import PixelNormalizer, default_cam_layer, load_image
from .plot import (overlay_heatmap, save_bar, save_heatmap_grid,
                   save_surface)

__all__ = [
    'AttentionCapture', 'capture_attention', 'PixelNormalizer',
    'default_cam_layer', 'load_image', 'overlay_heatmap', 'save_bar',
    'save_heatmap_grid', 'save_surface'
]
