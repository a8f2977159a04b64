"""Helpers to rebuild the deterministic upstream weights and inputs that
produced ``tests/data/reference/*.npz`` (see its README.md)."""
import json
import math
import os.path as osp
import re
import zlib
from collections import OrderedDict

import numpy as np
import torch

REF_DIR = osp.join(osp.dirname(__file__), 'data', 'reference')


def manifest(name):
    with open(osp.join(REF_DIR, 'state_dict_manifests.json')) as f:
        return json.load(f)[name]


def reference_outputs(name):
    return dict(np.load(osp.join(REF_DIR, f'{name}.npz')))


def deterministic_state_dict(layout):
    """The upstream state dict filled with the README's deterministic
    values."""
    out = OrderedDict()
    for key, shape in layout.items():
        g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        if key.endswith('num_batches_tracked'):
            out[key] = torch.zeros(shape, dtype=torch.long)
        elif key.endswith('running_var'):
            out[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith('running_mean'):
            out[key] = torch.randn(shape, generator=g) * 0.1
        elif len(shape) == 1 and key.endswith('weight') and \
                key[:-len('weight')] + 'running_var' in layout:
            out[key] = torch.randn(shape, generator=g) * 0.05 + 0.2
        elif len(shape) == 1:
            out[key] = torch.randn(shape, generator=g) * 0.1 + (
                1.0 if key.endswith('weight') else 0.0)
        else:
            out[key] = torch.randn(shape, generator=g) / math.sqrt(
                math.prod(shape[1:]))
    return out


def reference_input(shape, seed):
    return torch.randn(tuple(int(s) for s in shape),
                       generator=torch.Generator().manual_seed(int(seed)))


def assert_close_to_ref(ours, ref, name=''):
    """``max|ours - ref| <= 1e-4 * max|ref|``; returns the relative error."""
    ours = ours.detach().cpu().numpy() if torch.is_tensor(ours) else ours
    assert ours.shape == ref.shape, f'{name}: {ours.shape} vs {ref.shape}'
    err = float(np.abs(ours - ref).max())
    scale = float(np.abs(ref).max())
    assert err <= 1e-4 * scale, f'{name}: max err {err:.3g} > 1e-4*{scale:.3g}'
    return err / scale


def official_to_timm_shvit(key):
    """The spec's rename, written independently of the package's."""
    m = re.match(r'blocks(\d)\.(\d+)\.(.*)$', key)
    if m is None:
        return key
    stage, idx, rest = int(m[1]) - 1, int(m[2]), m[3]
    if stage == 0:
        return f'stages.0.blocks.{idx}.{rest}'
    if idx in (0, 2):
        sub, rest = rest.split('.', 1)
        return f'stages.{stage}.downsample.{idx // 2 * 3 + int(sub)}.{rest}'
    if idx == 1:
        return f'stages.{stage}.downsample.2.{rest}'
    return f'stages.{stage}.blocks.{idx - 3}.{rest}'
