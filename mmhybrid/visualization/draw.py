"""Drawing captured attention records
(:mod:`mmhybrid.visualization.capture`) by their layout.

What is drawn depends only on a record's ``kind`` (the layout its
:class:`~mmhybrid.models.layers.AttentionMap` states) and the shapes of its
maps; the label (``type``) only names the files and titles. So a new
family's maps are drawn as soon as its attention modules pass them through
an ``AttentionMap``:

============  ===================================================  ==============================
``kind``      drawn                                                files (``{prefix}_{label}...``)
============  ===================================================  ==============================
tokens,       attention each position receives (mean over          ``_mean.png``, ``_query.png``
windows       queries) and the row of the query, over the image
spatial       the map averaged over channels, over the image,      ``.png``, ``_surface.png``
              and as 3-D surfaces (the last three)
channel       channel weights as bars                              ``_channel.png``
named         its (B, C) maps as bars, its (B, H, W) maps over     ``_channel.png``,
              the image and as 3-D surfaces                        ``_spatial.png``,
                                                                   ``_surface.png``
============  ===================================================  ==============================
"""
import os.path as osp
from collections import OrderedDict

import numpy as np

from .plot import overlay_heatmap, save_bar, save_heatmap_grid, save_surface

__all__ = ['ATTENTION_KINDS', 'group_records', 'write_attention_pngs',
           'record_heatmap', 'attention_heatmaps', 'save_attention_change']

#: layouts whose maps are attention over positions (``mean``, ``query``)
ATTENTION_KINDS = ('tokens', 'windows')


def spread(items, n):
    """At most ``n`` of ``items``, evenly spread (first and last kept)."""
    if len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in idx]


def short_name(name):
    """A module path for a panel title (``backbone.`` and ``.m.`` dropped)."""
    return name.replace('backbone.', '').replace('.m.', '.')


def group_records(records):
    """``{(label, kind): [records]}`` in forward order of first appearance.
    Raises ``ValueError`` for a record without a layout ``kind``."""
    groups = OrderedDict()
    for r in records:
        if not r.get('kind'):
            raise ValueError(f'attention record of {r.get("name")!r} has no '
                             'layout kind (capture it with '
                             'mmhybrid.visualization.AttentionCapture)')
        groups.setdefault((r['type'], r['kind']), []).append(r)
    return groups


def _hw_title(r):
    hw = r.get('hw')
    return f'{short_name(r["name"])} {hw[0]}x{hw[1]}' if hw else \
        short_name(r['name'])


def _draw_attention(label, recs, img_rgb, path):
    paths = []
    for key, what in (('mean', 'mean over queries'), ('query', 'query row')):
        items = [(_hw_title(r), r['maps'][key][0].numpy()) for r in recs]
        paths.append(save_heatmap_grid(
            img_rgb, items, path(f'{label}_{key}'),
            suptitle=f'{label.upper()} attention ({what})'))
    return paths


def _draw_spatial(label, recs, img_rgb, path):
    items = [(short_name(r['name']), r['maps']['spatial'][0].numpy())
             for r in recs]
    return [
        save_heatmap_grid(img_rgb, items, path(label),
                          suptitle=f'{label.upper()} spatial maps'),
        save_surface(items[-3:], path(f'{label}_surface'),
                     suptitle=f'{label.upper()} spatial maps (3-D)')
    ]


def _draw_channel(label, recs, img_rgb, path):
    items = [(short_name(r['name']), r['maps']['channel'][0].numpy())
             for r in recs]
    return [save_bar(items, path(f'{label}_channel'),
                     suptitle=f'{label.upper()} channel weights')]


def _draw_named(label, recs, img_rgb, path):
    vectors, maps = [], []
    for r in recs:
        for key, m in r['maps'].items():
            item = (f'{short_name(r["name"])} {key}', m[0].numpy())
            (vectors if m.dim() == 2 else maps).append(item)
    paths = []
    if vectors:
        paths.append(save_bar(vectors, path(f'{label}_channel'),
                              suptitle=f'{label.upper()} channel maps'))
    if maps:
        paths.append(save_heatmap_grid(
            img_rgb, maps, path(f'{label}_spatial'),
            suptitle=f'{label.upper()} spatial maps'))
        paths.append(save_surface(
            maps, path(f'{label}_surface'),
            suptitle=f'{label.upper()} spatial maps (3-D)'))
    return paths


_DRAW = {'tokens': _draw_attention, 'windows': _draw_attention,
         'spatial': _draw_spatial, 'channel': _draw_channel,
         'named': _draw_named}


def write_attention_pngs(records, img_rgb, out_dir, prefix, max_panels=16):
    """Write the PNGs of captured ``records`` (one image's: batch index 0)
    to ``out_dir`` as ``{prefix}_{label}...png`` by each record's layout
    (module docstring); at most ``max_panels`` records of a label per
    figure (evenly spread). Heat maps are overlaid on ``img_rgb`` (RGB uint8
    H x W x 3). Returns the paths written."""
    paths = []

    def path(suffix):
        return osp.join(out_dir, f'{prefix}_{suffix}.png')

    for (label, kind), recs in group_records(records).items():
        if kind not in _DRAW:
            raise ValueError(f'cannot draw attention-map layout {kind!r} '
                             f'(of {label!r}); known: {sorted(_DRAW)}')
        # named maps put two panels per map and record: fewer records
        n = max_panels if kind != 'named' else max(1, max_panels // 4)
        paths += _DRAW[kind](label, spread(recs, n), img_rgb, path)
    return paths


def record_heatmap(record):
    """One (H, W) map of a record, image 0: the attention each position
    receives (tokens/windows), the channel-mean spatial map (spatial), the
    first spatial map (named); None for channel weights."""
    kind, maps = record.get('kind'), record['maps']
    if kind in ATTENTION_KINDS:
        return maps['mean'][0]
    if kind == 'spatial':
        return maps['spatial'][0]
    if kind == 'named':
        return next((m[0] for m in maps.values() if m.dim() == 3), None)
    return None


def attention_heatmaps(records):
    """``[(name, (H, W) map)]`` of the records that have one
    (:func:`record_heatmap`), attention over positions first: if any record
    is ``tokens``/``windows``, only those. Maps of one position (deep
    stages of tiny inputs) are left out unless nothing else is left."""
    recs = [r for r in records if r.get('kind') in ATTENTION_KINDS] or \
        list(records)
    out = [(short_name(r['name']), record_heatmap(r)) for r in recs]
    out = [(n, m) for n, m in out if m is not None]
    big = [(n, m) for n, m in out if m.numel() > 1]
    return big or out


def save_attention_change(clean_rgb, adv_rgb, clean, adv, path, title='',
                          max_panels=6):
    """Two rows of overlays: ``clean`` maps on ``clean_rgb`` and ``adv``
    maps on ``adv_rgb`` (lists of ``(name, (H, W) tensor)`` of the same
    records), each adversarial panel titled with its relative L1 change.
    Returns ``path``, or None when there is no map."""
    if not clean:
        return None
    idx = spread(list(range(len(clean))), max_panels)
    clean = [clean[i] for i in idx]
    adv = [adv[i] for i in idx]
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    n = len(clean) + 1
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 5.6), squeeze=False)
    for ax in axes.flat:
        ax.axis('off')
    for row, (img, maps, tag) in enumerate(
            ((clean_rgb, clean, 'clean'), (adv_rgb, adv, 'adversarial'))):
        axes[row, 0].imshow(img)
        axes[row, 0].set_title(f'{tag} input', fontsize=8)
        for j, (name, m) in enumerate(maps):
            a = clean[j][1]
            change = (m - a).abs().sum() / a.abs().sum().clamp_min(1e-12)
            t = name if row == 0 else f'{name}\nrel. L1 change {change:.3f}'
            axes[row, j + 1].imshow(overlay_heatmap(img, m.numpy()))
            axes[row, j + 1].set_title(t, fontsize=7)
    fig.suptitle(title or 'attention before / after', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
