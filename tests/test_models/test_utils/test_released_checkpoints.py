"""The released upstream checkpoints load unchanged into our configs: the
official SHViT-S4 detectors (mmdet 2.25 layout) and the official CSWin
segmentors (mmseg 0.x layout), through mmengine's ``load_checkpoint`` (what
``load_from`` and ``tools/test.py`` use)."""
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.runner import load_checkpoint

from mmhybrid.apis import build_model
from mmhybrid.models.utils.checkpoint import load_checked_state_dict
from reference import deterministic_state_dict, manifest

# config -> {state-dict prefix: official manifest} of the released file
RELEASED = {
    'configs/maskrcnn_shvit_s4_coco.py':
    dict(backbone='shvit_s4', neck='shvit_s4_maskrcnn_neck'),
    'configs/retinanet_shvit_s4_coco.py':
    dict(backbone='shvit_s4', neck='shvit_s4_retinanet_neck'),
    'configs/upernet_ga_cswin_t_ade20k.py': dict(backbone='cswin_t_backbone'),
    'configs/fpn_ga_cswin_t_ade20k.py': dict(backbone='cswin_t_backbone'),
    'configs/upernet_ga_cswin_s_ade20k.py': dict(backbone='cswin_s_backbone'),
}


def released_state_dict(model, parts):
    """The released checkpoint's state dict: the official backbone (no
    classifier ``head``) and neck keys with deterministic values, the
    framework's own head keys (unchanged from mmdet 2.x / mmseg 0.x) taken
    from ``model``."""
    sd = OrderedDict()
    for prefix, name in parts.items():
        official = deterministic_state_dict(manifest(name))
        sd.update({f'{prefix}.{k}': v for k, v in official.items()
                   if not k.startswith('head.')})
    sd.update({k: v.clone() for k, v in model.state_dict().items()
               if k.split('.', 1)[0] not in parts})
    # the upstream modules had no ``_version``: torch records 1
    sd._metadata = OrderedDict((p, dict(version=1)) for p in parts)
    return sd


_CACHE = {}


def _released(config, tmp_path_factory):
    """(model, released state dict, its .pth path), built once per config."""
    if config not in _CACHE:
        model = build_model(config)
        sd = released_state_dict(model, RELEASED[config])
        path = tmp_path_factory.mktemp('released') / 'released.pth'
        torch.save({'meta': {'config': config}, 'state_dict': sd}, path)
        _CACHE[config] = model, sd, str(path)
    return _CACHE[config]


@pytest.fixture(scope='module', params=list(RELEASED))
def released(request, tmp_path_factory):
    return (request.param, *_released(request.param, tmp_path_factory))


@pytest.fixture(scope='module',
                params=[c for c in RELEASED if 'neck' in RELEASED[c]])
def detector(request, tmp_path_factory):
    return _released(request.param, tmp_path_factory)


def test_loads_strictly_with_no_missing_or_unexpected_keys(released):
    config, model, sd, path = released
    load_checkpoint(model, path, map_location='cpu', strict=True)
    result = model.load_state_dict(sd, strict=False)
    print(f'\n{config}: {len(sd)} keys, missing {len(result.missing_keys)}, '
          f'unexpected {len(result.unexpected_keys)}')
    assert result.missing_keys == []
    assert result.unexpected_keys == []
    # the Runner's checked loader (load_from, tools/test.py) skips nothing
    assert load_checked_state_dict(model, sd, source=config) == []


def test_loaded_backbone_and_neck_hold_the_file_values(released):
    config, model, sd, path = released
    for tensor in model.state_dict().values():
        tensor.zero_()
    load_checkpoint(model, path, map_location='cpu', strict=True)
    loaded = model.state_dict()
    parts = tuple(f'{p}.' for p in RELEASED[config])
    checked = [k for k in sd if k.startswith(parts)]
    assert len(checked) == sum(
        len([k for k in manifest(n) if not k.startswith('head.')])
        for n in RELEASED[config].values())
    for key in checked:
        torch.testing.assert_close(loaded[key], sd[key], rtol=0, atol=0,
                                   msg=key)


def test_finest_level_uses_the_files_extra_fpn_convs_0(detector):
    """The official ``extra_fpn_convs.0`` serves the finest level, the
    output of the LAST transposed conv of the chain."""
    model, sd, path = detector
    load_checkpoint(model, path, map_location='cpu', strict=True)
    neck = model.neck
    w = {k[len('neck.'):]: v for k, v in sd.items() if k.startswith('neck.')}
    feats = [torch.randn(1, c, 12 // 2**i, 16 // 2**i)
             for i, c in enumerate(neck.in_channels)]
    with torch.no_grad():
        outs = neck(feats)
        lat = [F.conv2d(x, w[f'lateral_convs.{i}.conv.weight'],
                        w[f'lateral_convs.{i}.conv.bias'])
               for i, x in enumerate(feats)]
        for i in (1, 0):
            lat[i] = lat[i] + F.interpolate(lat[i + 1], size=lat[i].shape[2:])
        up = lat[0]
        for i in range(neck.num_upsample):
            up = F.conv_transpose2d(up,
                                    w[f'extra_trans_convs.{i}.conv.weight'],
                                    w[f'extra_trans_convs.{i}.conv.bias'],
                                    stride=2)
        finest = F.conv2d(up, w['extra_fpn_convs.0.conv.weight'],
                          w['extra_fpn_convs.0.conv.bias'], padding=1)
    assert outs[0].shape[-1] == 16 * 2**neck.num_upsample
    torch.testing.assert_close(outs[0], finest)


def test_maskrcnn_evaluates_like_upstream_with_pad_size_divisor_32():
    """The config pads to 32 as the mmdet 2.25 pipeline's Pad did, and runs
    on an image whose padded size is a multiple of 32 but not of 64 (the
    stride-64 map then rounds up)."""
    model = build_model('configs/maskrcnn_shvit_s4_coco.py')
    assert model.data_preprocessor.pad_size_divisor == 32
    h, w = 280, 410  # padded to 288 x 416
    meta = dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.))
    data = dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8)],
                data_samples=[DetDataSample(metainfo=meta)])
    with torch.no_grad():
        data = model.data_preprocessor(data, False)
        assert data['inputs'].shape[-2:] == (288, 416)
        feats = model.extract_feat(data['inputs'])
        (pred, ) = model(**data, mode='predict')
    assert [f.shape[-2:] for f in feats] == [(72, 104), (36, 52), (18, 26),
                                             (9, 13), (5, 7)]
    assert pred.pred_instances.masks.shape[-2:] == (h, w)
