"""tools/analysis_tools/visualize_attention.py on tiny inputs (CPU)."""
import importlib.util
import os.path as osp

import pytest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _load_tool():
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'visualize_attention.py')
    spec = importlib.util.spec_from_file_location('visualize_attention', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def tool():
    return _load_tool()


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    from mmhybrid.testing import make_toy_imagenet
    root = str(tmp_path_factory.mktemp('toy'))
    make_toy_imagenet(root, num_train_per_class=1, num_val_per_class=1)
    return osp.join(root, 'val', 'triangle', 'triangle_00001.jpg')


def _run(tool, image, out_dir, *extra):
    return tool.main([image, '--out-dir', str(out_dir), '--shape', '64',
                      '64', *extra])


def test_shvit_s1_attention_and_gradcam(tool, image, tmp_path):
    paths = _run(tool, image, tmp_path, '--backbone', 'SHViT', '--arch',
                 's1', '--cam')
    names = {osp.basename(p) for p in paths}
    assert names == {
        'triangle_00001_shvit_shsa_mean.png',
        'triangle_00001_shvit_shsa_query.png',
        'triangle_00001_shvit_gradcam.png'
    }
    for p in paths:
        assert osp.getsize(p) > 1000


def test_harmovision_maps(tool, image, tmp_path):
    paths = _run(tool, image, tmp_path, '--backbone', 'HarmoVision',
                 '--arch', 'n', '--cam')
    names = {osp.basename(p) for p in paths}
    for suffix in ('lwmhsa_mean', 'lwmhsa_query', 'dsa', 'dsa_surface',
                   'dca_channel', 'gradcam'):
        assert f'triangle_00001_harmovision_{suffix}.png' in names
    assert all(osp.isfile(p) for p in paths)


def test_hamvit_channel_and_surface(tool, image, tmp_path):
    paths = _run(tool, image, tmp_path, '--backbone', 'HAMViT')
    names = {osp.basename(p) for p in paths}
    assert {f'triangle_00001_hamvit_ham_{s}.png'
            for s in ('channel', 'spatial', 'surface')} <= names


def test_capture_shapes():
    import torch

    from mmhybrid.apis import build_model
    from mmhybrid.visualization import capture_attention
    model = build_model(backbone='CSWin', arch='t', num_classes=3)
    x = torch.rand(1, 3, 64, 64)
    recs = capture_attention(model, lambda: model(x, mode='tensor'))
    assert recs and all(r['type'] == 'cswin' for r in recs)
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


def test_missing_files_named(tool, image, tmp_path):
    missing = str(tmp_path / 'nope.jpg')
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        _run(tool, missing, tmp_path, '--backbone', 'SHViT')
    cfg = osp.join(ROOT, 'configs', 'imagenet_shvit_s1.py')
    ckpt = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _run(tool, image, tmp_path, '--config', cfg, '--checkpoint', ckpt)
