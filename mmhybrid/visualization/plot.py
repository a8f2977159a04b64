"""Matplotlib (Agg) plotting: heat maps overlaid on the input image, bar
charts of channel weights and 3-D surface plots."""
import math

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _norm(heat):
    heat = np.asarray(heat, dtype=np.float64)
    lo, hi = np.nanmin(heat), np.nanmax(heat)
    return (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)


def overlay_heatmap(img_rgb, heat, alpha=0.5, cmap='jet'):
    """Resize ``heat`` (h, w) to the RGB uint8 image and blend; returns an
    RGB uint8 image."""
    import mmcv
    H, W = img_rgb.shape[:2]
    heat = mmcv.imresize(_norm(heat).astype(np.float32), (W, H),
                         interpolation='bilinear')
    color = plt.get_cmap(cmap)(np.clip(heat, 0, 1))[..., :3] * 255
    out = (1 - alpha) * img_rgb.astype(np.float64) + alpha * color
    return np.clip(out, 0, 255).astype(np.uint8)


def save_heatmap_grid(img_rgb, items, path, ncols=4, suptitle=None,
                      alpha=0.5):
    """``items``: list of (title, heat (h, w)). The first panel is the
    input image; each heat map is overlaid on it."""
    n = len(items) + 1
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3 * nrows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis('off')
    axes.flat[0].imshow(img_rgb)
    axes.flat[0].set_title('input', fontsize=8)
    for ax, (title, heat) in zip(list(axes.flat)[1:], items):
        ax.imshow(overlay_heatmap(img_rgb, heat, alpha))
        ax.set_title(title, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_bar(items, path, suptitle=None):
    """``items``: list of (title, 1-D weights); one bar chart each."""
    n = len(items)
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n + 0.5),
                             squeeze=False)
    for ax, (title, w) in zip(axes[:, 0], items):
        w = np.asarray(w)
        ax.bar(np.arange(len(w)), w, width=1.0, color='tab:blue')
        ax.set_title(title, fontsize=8)
        ax.set_xlim(-0.5, len(w) - 0.5)
    axes[-1, 0].set_xlabel('channel')
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_surface(items, path, suptitle=None, cmap='viridis'):
    """``items``: list of (title, heat (h, w)); one 3-D ``plot_surface``
    each (x, y: map coordinates, z: the value)."""
    n = len(items)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = plt.figure(figsize=(4 * ncols, 3.5 * nrows))
    for i, (title, heat) in enumerate(items):
        heat = np.asarray(heat, dtype=np.float64)
        if heat.shape[0] < 2 or heat.shape[1] < 2:  # plot_surface needs 2x2
            heat = np.kron(heat, np.ones((2, 2)))
        ax = fig.add_subplot(nrows, ncols, i + 1, projection='3d')
        yy, xx = np.mgrid[0:heat.shape[0], 0:heat.shape[1]]
        ax.plot_surface(xx, yy, heat, cmap=cmap, linewidth=0,
                        antialiased=True)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel('x')
        ax.set_ylabel('y')
        ax.invert_yaxis()
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
