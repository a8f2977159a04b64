"""Attention maps drawn by the records' layout
(:func:`mmhybrid.apis.visualize_attention`, the library of
tools/analysis_tools/visualize_attention.py) on tiny inputs (CPU)."""
import os.path as osp

import pytest
import torch

from mmhybrid.apis import visualize_attention
from mmhybrid.visualization import capture_attention, write_attention_pngs

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    from mmhybrid.testing import make_toy_imagenet
    root = str(tmp_path_factory.mktemp('toy'))
    make_toy_imagenet(root, num_train_per_class=1, num_val_per_class=1)
    return osp.join(root, 'val', 'triangle', 'triangle_00001.jpg')


def _run(image, out_dir, **kwargs):
    return visualize_attention(image, str(out_dir), shape=(64, 64),
                               **kwargs)['paths']


def test_shvit_s1_attention_and_gradcam(image, tmp_path):
    paths = _run(image, tmp_path, backbone='SHViT', arch='s1', cam=True)
    names = {osp.basename(p) for p in paths}
    assert names == {
        'triangle_00001_shvit_shsa_mean.png',
        'triangle_00001_shvit_shsa_query.png',
        'triangle_00001_shvit_gradcam.png'
    }
    for p in paths:
        assert osp.getsize(p) > 1000


def test_harmovision_maps(image, tmp_path):
    paths = _run(image, tmp_path, backbone='HarmoVision', arch='n',
                 cam=True)
    names = {osp.basename(p) for p in paths}
    for suffix in ('lwmhsa_mean', 'lwmhsa_query', 'dsa', 'dsa_surface',
                   'dca_channel', 'gradcam'):
        assert f'triangle_00001_harmovision_{suffix}.png' in names
    assert all(osp.isfile(p) for p in paths)


def test_hamvit_channel_and_surface(image, tmp_path):
    paths = _run(image, tmp_path, backbone='HAMViT')
    names = {osp.basename(p) for p in paths}
    assert {f'triangle_00001_hamvit_ham_{s}.png'
            for s in ('channel', 'spatial', 'surface')} <= names


def _record(kind, label, maps, hw=None):
    return dict(name=f'backbone.{label}.0', type=label, kind=kind, hw=hw,
                maps=maps)


def test_drawing_reads_the_layout_not_the_label(tmp_path):
    """Labels no family uses, drawn by their layout kind alone."""
    import numpy as np
    img = np.zeros((32, 32, 3), np.uint8)
    att = dict(mean=torch.rand(1, 4, 4), query=torch.rand(1, 4, 4))
    records = [
        _record('windows', 'newwin', att, (4, 4)),
        _record('spatial', 'newsp', dict(spatial=torch.rand(1, 4, 4)),
                (4, 4)),
        _record('channel', 'newch', dict(channel=torch.rand(1, 8))),
        _record('named', 'newnamed', dict(w=torch.rand(1, 8),
                                          s=torch.rand(1, 4, 4)), (4, 4)),
    ]
    paths = write_attention_pngs(records, img, str(tmp_path), 'x')
    assert [osp.basename(p) for p in paths] == [
        'x_newwin_mean.png', 'x_newwin_query.png', 'x_newsp.png',
        'x_newsp_surface.png', 'x_newch_channel.png',
        'x_newnamed_channel.png', 'x_newnamed_spatial.png',
        'x_newnamed_surface.png'
    ]
    assert all(osp.getsize(p) > 1000 for p in paths)
    with pytest.raises(ValueError, match="layout 'cube'"):
        write_attention_pngs([_record('cube', 'c', {})], img, str(tmp_path),
                             'y')
    with pytest.raises(ValueError, match='no layout kind'):
        write_attention_pngs([_record(None, 'c', {})], img, str(tmp_path),
                             'y')


def test_capture_shapes():
    from mmhybrid.apis import build_model
    model = build_model(backbone='CSWin', arch='t', num_classes=3)
    x = torch.rand(1, 3, 64, 64)
    recs = capture_attention(model, lambda: model(x, mode='tensor'))
    assert recs and all(r['type'] == 'cswin' and r['kind'] == 'windows'
                        for r in recs)
    for r in recs:
        H, W = r['hw']
        assert r['maps']['mean'].shape == (1, H, W)
        q = r['maps']['query']
        # one softmaxed query row, mean over heads: sums to 1 (less where
        # CSWin pads the stripes: padded keys are cropped from the map)
        assert 0 < q.sum() <= 1 + 1e-4
    # stage 1 (16 x 16, stripes of 1): no padding
    assert torch.allclose(recs[0]['maps']['query'].sum(), torch.tensor(1.),
                          atol=1e-4)


def test_missing_files_named(image, tmp_path):
    missing = str(tmp_path / 'nope.jpg')
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        _run(missing, tmp_path, backbone='SHViT')
    cfg = osp.join(ROOT, 'configs', 'imagenet_shvit_s1.py')
    ckpt = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _run(image, tmp_path, config=cfg, checkpoint=ckpt)


def test_backbone_choices_come_from_the_registry():
    import argparse

    from mmhybrid.apis import add_backbone_args, registered_backbones
    from mmhybrid.models.backbones.base import HybridBackbone
    from mmhybrid.registry import MODELS
    names = registered_backbones()
    assert names == sorted(
        n for n, c in MODELS.module_dict.items()
        if isinstance(c, type) and issubclass(c, HybridBackbone))
    assert {'SHViT', 'CSWin', 'HarmoVision', 'HAMViT'} <= set(names)
    parser = argparse.ArgumentParser()
    add_backbone_args(parser)
    assert parser.parse_args(['--backbone', 'CSWin', '--arch', 't']).arch \
        == 't'
    with pytest.raises(SystemExit):
        parser.parse_args(['--backbone', 'ResNet'])  # not a HybridBackbone
