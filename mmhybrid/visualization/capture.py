"""Capture attention maps with forward hooks on the models' own
:class:`~mmhybrid.models.layers.AttentionMap` modules: every attention
module passes the attention it uses through one, with keywords describing
its layout, so nothing is recomputed here and no model needs to be known.

Every record is a dict ``name`` (path of the attention module that owns the
``AttentionMap``), ``type`` (the map's label: ``'shsa'``, ``'cswin'``,
``'lwmhsa'``, ``'dsa'``, ``'dca'``, ``'ham'``, or a new family's own; a name
only), ``kind`` (the layout the module passed), ``hw`` (the map's H, W; None
for channel weights) and ``maps``: CPU tensors with a leading batch axis, by
layout ``kind`` (what :mod:`mmhybrid.visualization.draw` draws, reading the
layout only):

* ``'tokens'`` and ``'windows'`` (attention): ``mean`` (B, H, W) - attention
  each position receives, averaged over queries (and heads); ``query``
  (B, H, W) - the attention row of the chosen query (windows: zero outside
  the query's window, padded keys cropped); ``'tokens'`` also keeps ``attn``
  (B, N, N).
* ``'spatial'``: ``spatial`` (B, H, W) - the map averaged over channels.
* ``'channel'``: ``channel`` (B, C).
* ``'named'``: every named map, channel weights (B, C, 1, 1) as (B, C) and
  single-channel spatial maps (B, 1, H, W) as (B, H, W); for HAM:
  ``channel``, ``important``, ``spatial_important`` and
  ``spatial_sub_important``.
"""
import torch

from mmhybrid.models.layers.attention_map import AttentionMap


def _query_index(hw, query):
    """Fractional (y, x) in [0, 1] -> integer row, col on an H x W grid."""
    H, W = hw
    qy, qx = query
    return (min(int(qy * H), H - 1), min(int(qx * W), W - 1))


def _windows_to_map(m, B, Hp, Wp, wh, ww):
    """(B*nW, wh*ww) per-window values -> (B, Hp, Wp)."""
    nh, nw = Hp // wh, Wp // ww
    m = m.reshape(B, nh, nw, wh, ww).permute(0, 1, 3, 2, 4)
    return m.reshape(B, Hp, Wp)


def _tokens_maps(attn, hw, query):
    B = attn.shape[0]
    H, W = hw
    qy, qx = _query_index(hw, query)
    return dict(attn=attn, mean=attn.mean(1).view(B, H, W),
                query=attn[:, qy * W + qx].view(B, H, W))


def _windows_maps(attn, batch, hw, padded, window, offset, query):
    """attn: (B*nW, heads, L, L) softmaxed per window -> mean and query
    maps (B, H, W) of the real (cropped) map."""
    B, (H, W), (Hp, Wp), (wh, ww), (top, left) = (batch, hw, padded, window,
                                                 offset)
    a = attn.mean(1)  # B*nW, L, L
    mean = _windows_to_map(a.mean(1), B, Hp, Wp, wh, ww)
    qy, qx = _query_index(hw, query)
    qy, qx = qy + top, qx + left  # padded coordinates
    nw = Wp // ww
    n_win = (Hp // wh) * nw
    widx = (qy // wh) * nw + qx // ww
    lidx = (qy % wh) * ww + qx % ww
    rows = a.new_zeros(B, n_win, wh * ww)
    rows[:, widx] = a.view(B, n_win, wh * ww, wh * ww)[:, widx, lidx]
    qmap = _windows_to_map(rows.view(B * n_win, -1), B, Hp, Wp, wh, ww)
    crop = (slice(None), slice(top, top + H), slice(left, left + W))
    return dict(mean=mean[crop], query=qmap[crop])


def _record_maps(attn, layout, query):
    """``(maps, hw)`` of one AttentionMap call."""
    kind = layout.get('kind')
    if kind == 'tokens':
        return _tokens_maps(attn, layout['hw'], query), layout['hw']
    if kind == 'windows':
        return _windows_maps(attn, layout['batch'], layout['hw'],
                             layout['padded'], layout['window'],
                             layout['offset'], query), layout['hw']
    if kind == 'spatial':
        return dict(spatial=attn.mean(1)), attn.shape[2:]
    if kind == 'channel':
        return dict(channel=attn.flatten(1)), None
    if kind == 'named':
        maps = {k: v.flatten(1) if v.shape[2:] == (1, 1) else v[:, 0]
                for k, v in attn.items()}
        hws = [v.shape[2:] for v in attn.values() if v.shape[2:] != (1, 1)]
        return maps, (hws[0] if hws else None)
    raise ValueError(f'unknown attention-map layout kind {kind!r}')


class AttentionCapture:
    """Context manager: hook every :class:`AttentionMap` of ``model`` and
    collect records in ``self.records`` (forward order).

    Args:
        model (nn.Module): a backbone or a whole classifier.
        query (tuple[float]): fractional (y, x) of the query position whose
            attention row is kept. Defaults to the centre (0.5, 0.5).
        types (set[str], optional): record only maps with these labels.
    """

    def __init__(self, model, query=(0.5, 0.5), types=None):
        self.model = model
        self.query = tuple(query)
        self.types = set(types) if types else None
        self.records = []
        self._handles = []

    def _hook(self, name, label):

        def hook(module, args, kwargs, output):
            with torch.no_grad():
                maps, hw = _record_maps(output, kwargs, self.query)
            self.records.append(
                dict(name=name, type=label, kind=kwargs.get('kind'),
                     hw=tuple(hw) if hw is not None else None,
                     maps={k: v.detach().float().cpu()
                           for k, v in maps.items()}))

        return hook

    def __enter__(self):
        self.records = []
        for name, module in self.model.named_modules():
            if not isinstance(module, AttentionMap) or (
                    self.types and module.label not in self.types):
                continue
            owner = name.rpartition('.')[0]
            self._handles.append(module.register_forward_hook(
                self._hook(owner, module.label), with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []
        return False


def capture_attention(model, forward, query=(0.5, 0.5), types=None):
    """Run ``forward()`` (a no-argument callable using ``model``) under
    :class:`AttentionCapture` and return the records."""
    with AttentionCapture(model, query, types) as cap, torch.no_grad():
        forward()
    return cap.records
