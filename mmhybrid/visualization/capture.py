"""Forward hooks that capture attention maps per model family, without
touching model code: the maps are recomputed from each module's input with
the module's own weights (SHViT ``SHSA.attention``, CSWin ``LePEAttention``
stripes, HarmoVision ``LWMHSA`` windows, HAM ``attention_maps``) or read from
its output (``DSA`` spatial maps, ``DCA`` channel weights).

Every record is a dict ``name`` (module path), ``type`` (``'shsa'``,
``'cswin'``, ``'lwmhsa'``, ``'dsa'``, ``'dca'``, ``'ham'``), ``hw`` (the
map's H, W) and ``maps``: CPU tensors with a leading batch axis:

* attention types: ``mean`` (B, H, W) - attention each position receives,
  averaged over queries (and heads); ``query`` (B, H, W) - the attention row
  of the chosen query (windowed types: zero outside the query's window);
  ``shsa`` also keeps ``attn`` (B, N, N).
* ``dsa``: ``spatial`` (B, H, W) - the map averaged over channels.
* ``dca``: ``channel`` (B, C).
* ``ham``: ``channel`` (B, C), ``important`` (B, C), ``spatial_important``
  and ``spatial_sub_important`` (B, H, W).
"""
import torch
import torch.nn.functional as F


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


def _window_maps(attn, B, Hp, Wp, wh, ww, qy, qx):
    """attn: (B*nW, heads, L, L) softmaxed per window; (qy, qx) in padded
    coordinates. Returns (mean map, query map), both (B, Hp, Wp)."""
    a = attn.mean(1)  # B*nW, L, L
    mean = _windows_to_map(a.mean(1), B, Hp, Wp, wh, ww)
    nw = Wp // ww
    n_win = (Hp // wh) * nw
    widx = (qy // wh) * nw + qx // ww
    lidx = (qy % wh) * ww + qx % ww
    rows = a.new_zeros(B, n_win, wh * ww)
    rows[:, widx] = a.view(B, n_win, wh * ww, wh * ww)[:, widx, lidx]
    query = _windows_to_map(rows.view(B * n_win, -1), B, Hp, Wp, wh, ww)
    return mean, query


def _shsa_maps(module, x, query):
    B, _, H, W = x.shape
    attn = module.attention(x)  # B, N, N
    qy, qx = _query_index((H, W), query)
    return dict(attn=attn, mean=attn.mean(1).view(B, H, W),
                query=attn[:, qy * W + qx].view(B, H, W))


def _cswin_maps(module, qkv, query):
    """Recompute ``LePEAttention``'s stripe attention from its qkv input."""
    B, _, C, H, W = qkv.shape
    H_sp, W_sp = module.window_size(H, W)
    H_pad = (H_sp - H % H_sp) % H_sp
    W_pad = (W_sp - W % W_sp) % W_sp
    top, left = H_pad // 2, W_pad // 2
    if H_pad or W_pad:
        qkv = F.pad(qkv, (left, W_pad - left, top, H_pad - top))
    Hp, Wp = H + H_pad, W + W_pad
    q, k, _ = qkv.unbind(1)
    q = module._to_heads(q, H_sp, W_sp) * module.scale
    k = module._to_heads(k, H_sp, W_sp)
    attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
    qy, qx = _query_index((H, W), query)
    mean, qmap = _window_maps(attn, B, Hp, Wp, H_sp, W_sp, qy + top,
                              qx + left)
    crop = (slice(None), slice(top, top + H), slice(left, left + W))
    return dict(mean=mean[crop], query=qmap[crop])


def _lwmhsa_maps(module, x, query):
    """Recompute ``LWMHSA``'s per-window attention from its input."""
    B, C, H, W = x.shape
    wh = ww = module.window_size
    if module.window_size <= 0:
        wh, ww = H, W
    pad_b, pad_r = (wh - H % wh) % wh, (ww - W % ww) % ww
    x = module.norm(x)
    if pad_b or pad_r:
        x = F.pad(x, (0, pad_r, 0, pad_b))
    Hp, Wp = H + pad_b, W + pad_r
    q, k = module.qk(x).chunk(2, dim=1)
    q = module._partition(q, wh, ww)
    k = module._partition(k, wh, ww)
    attn = (q @ k.transpose(-2, -1)) * module.scale
    if pad_b or pad_r:
        valid = x.new_zeros(1, 1, Hp, Wp, dtype=torch.bool)
        valid[..., :H, :W] = True
        valid = valid.view(1, 1, Hp // wh, wh, Wp // ww, ww)
        valid = valid.permute(0, 2, 4, 1, 3, 5).reshape(-1, 1, 1, wh * ww)
        attn = attn.masked_fill(~valid.repeat(B, 1, 1, 1), float('-inf'))
    attn = attn.softmax(dim=-1)
    qy, qx = _query_index((H, W), query)
    mean, qmap = _window_maps(attn, B, Hp, Wp, wh, ww, qy, qx)
    return dict(mean=mean[:, :H, :W], query=qmap[:, :H, :W])


def _module_type(module):
    """The record type of a module (by class name, so that no model module
    has to be imported), or None."""
    return {
        'SHSA': 'shsa',
        'LePEAttention': 'cswin',
        'LWMHSA': 'lwmhsa',
        'DSA': 'dsa',
        'DCA': 'dca',
        'HAM': 'ham',
    }.get(type(module).__name__)


class AttentionCapture:
    """Context manager: register hooks on every supported attention module
    of ``model`` and collect records in ``self.records`` (forward order).

    Args:
        model (nn.Module): a backbone or a whole classifier.
        query (tuple[float]): fractional (y, x) of the query position whose
            attention row is kept. Defaults to the centre (0.5, 0.5).
        types (set[str], optional): record only these types.
    """

    def __init__(self, model, query=(0.5, 0.5), types=None):
        self.model = model
        self.query = tuple(query)
        self.types = set(types) if types else None
        self.records = []
        self._handles = []

    def _hook(self, name, kind):

        def hook(module, args, output):
            with torch.no_grad():
                if kind == 'shsa':
                    maps = _shsa_maps(module, args[0], self.query)
                    hw = args[0].shape[2:]
                elif kind == 'cswin':
                    maps = _cswin_maps(module, args[0], self.query)
                    hw = args[0].shape[3:]
                elif kind == 'lwmhsa':
                    maps = _lwmhsa_maps(module, args[0], self.query)
                    hw = args[0].shape[2:]
                elif kind == 'dsa':
                    maps = dict(spatial=output.mean(1))
                    hw = output.shape[2:]
                elif kind == 'dca':
                    maps = dict(channel=output.flatten(1))
                    hw = None
                else:  # ham
                    x = args[0]
                    if x.dim() != 4:  # token input: skip
                        return
                    maps = module.attention_maps(x)
                    maps = {k: (v[:, 0] if v.dim() == 4 else v)
                            for k, v in maps.items()}
                    hw = x.shape[2:]
            self.records.append(
                dict(name=name, type=kind,
                     hw=tuple(hw) if hw is not None else None,
                     maps={k: v.detach().float().cpu()
                           for k, v in maps.items()}))

        return hook

    def __enter__(self):
        self.records = []
        for name, module in self.model.named_modules():
            kind = _module_type(module)
            if kind is None or (self.types and kind not in self.types):
                continue
            self._handles.append(
                module.register_forward_hook(self._hook(name, kind)))
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
