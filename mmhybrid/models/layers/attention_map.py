"""The one attention-map API of mmhybrid's models.

Every attention module passes the attention it really uses through an
:class:`AttentionMap` inside its own ``forward``::

    attn = self.attn_map(attn.softmax(dim=-1), kind='tokens', hw=(H, W))
    x = attn @ v

The module is the identity (no parameters, no buffers: state dicts and
outputs are unchanged). Its call is the place where tools read the maps:
:mod:`mmhybrid.visualization.capture` registers forward hooks on the
``AttentionMap`` modules of a model and turns ``attn`` and the layout
keywords into records, without recomputing any attention.

Layouts (the keywords a module passes with ``kind``):

* ``'tokens'``: ``attn`` (B, N, N), softmaxed rows over the N = H*W tokens
  of the ``hw`` = (H, W) grid (row-major).
* ``'windows'``: ``attn`` (B*nW, heads, L, L), softmaxed rows per window of
  ``window`` = (wh, ww) (L = wh*ww) on a ``padded`` = (Hp, Wp) map tiled
  row-major by windows, batch ``batch`` = B; the real ``hw`` = (H, W) map
  starts at ``offset`` = (top, left) of the padded one.
* ``'spatial'``: ``attn`` (B, C, H, W), a per-channel spatial map.
* ``'channel'``: ``attn`` (B, C, 1, 1), channel weights.
* ``'named'``: ``attn`` a dict of named maps, each (B, C, 1, 1) channel
  weights / masks or (B, 1, H, W) spatial maps.
"""
import torch.nn as nn


class AttentionMap(nn.Module):
    """Identity on an attention map; the hook point of the attention-map API.

    Args:
        label (str): what the map is, e.g. ``'shsa'``: the ``type`` of the
            visualisation records (one label per attention module class).
    """

    def __init__(self, label):
        super().__init__()
        self.label = label

    def forward(self, attn, **layout):
        """Return ``attn`` unchanged; ``layout`` (``kind=...`` and its
        keywords, see the module docstring) describes it to hooks."""
        return attn

    def extra_repr(self):
        return f'label={self.label!r}'
