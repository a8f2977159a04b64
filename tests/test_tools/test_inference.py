"""tools/inference.py: one PNG per image for each task (boxes + masks, class
map, top-5 panel), checkpoints through the checked loader, and clear errors
for bad input. Randomly initialised models, toy images."""
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mmhybrid.apis import ImageReadError, read_image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DET = 'configs/demo/maskrcnn_shvit_s1_toy.py'
SEG = 'configs/demo/fpn_shvit_s1_toy.py'
CLS = 'configs/imagenet_shvit_s1.py'
CKPT_CLASSES = ['bg', 'blob', 'box', 'wedge']


def _run(*args):
    return subprocess.run([sys.executable, 'tools/inference.py', *args],
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout


def _rgb(path):
    with Image.open(path) as im:
        return np.asarray(im.convert('RGB'))


@pytest.fixture
def images(toy_scenes):
    return toy_scenes


@pytest.fixture(scope='module')
def seg_checkpoint(tmp_path_factory):
    """A checkpoint of the toy segmentor as mmengine saves one: weights
    under ``state_dict``, class names and palette under
    ``meta.dataset_meta`` (renamed, to see where the names come from)."""
    from mmhybrid.apis import build_model
    model = build_model(SEG)
    path = str(tmp_path_factory.mktemp('ckpt') / 'fpn_toy.pth')
    palette = [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=CKPT_CLASSES,
                                                palette=palette))), path)
    return path


def test_detection_draws_boxes_at_image_size(images, tmp_path):
    out = _ok(_run(images['det'], DET, '--out-dir', str(tmp_path),
                   '--device', 'cpu', '--pred-score-thr', '0'))
    png = tmp_path / 'det_scene.png'
    assert f'-> {png}' in out and 'task: detection' in out
    with Image.open(png) as im:
        assert im.format == 'PNG' and im.size == (128, 96)
    # every box scores >= 0: the picture has boxes (and their labels) on it
    assert (_rgb(png) != _rgb(images['det'])).any(axis=-1).mean() > 0.05
    boxes = re.findall(r'^  (\w+): \d\.\d{4}  box \[', out, re.MULTILINE)
    assert boxes and set(boxes) <= {'ellipse', 'rectangle', 'triangle'}


def test_segmentation_with_own_checkpoint(images, seg_checkpoint, tmp_path):
    out = _ok(_run(images['seg'], SEG, seg_checkpoint, '--out-dir',
                   str(tmp_path), '--device', 'cpu'))
    png = tmp_path / 'seg_scene.png'
    assert f'weights: {seg_checkpoint}' in out
    with Image.open(png) as im:
        assert im.format == 'PNG' and im.size == (112, 128)
    # the class map is painted over the image
    assert (_rgb(png) != _rgb(images['seg'])).any(axis=-1).mean() > 0.5
    # class names come from the checkpoint's meta, not from the config
    listed = re.findall(r'^  (\w+): ([\d.]+)% of the pixels$', out,
                        re.MULTILINE)
    assert listed and {n for n, _ in listed} <= set(CKPT_CLASSES)
    assert sum(float(p) for _, p in listed) == pytest.approx(100, abs=0.5)


def test_classification_folder_top5_beside_each_image(images, tmp_path):
    out = _ok(_run(images['cls'], CLS, '--out-dir', str(tmp_path),
                   '--device', 'cpu'))
    names = sorted(os.listdir(images['cls']))
    assert len(names) == 3
    for name in names:
        png = tmp_path / (osp.splitext(name)[0] + '.png')
        assert f'-> {png}' in out
        pic, img = _rgb(png), _rgb(osp.join(images['cls'], name))
        h, w = img.shape[:2]
        # the image itself, untouched, and the top-5 panel to its right
        assert pic.shape[0] >= h and pic.shape[1] > w
        np.testing.assert_array_equal(pic[:h, :w], img)
        assert pic[:, w:].std() > 10  # the panel is not blank
    # five ImageNet classes with scores, best first, per image
    blocks = out.split(' -> ')[1:]
    assert len(blocks) == 3
    for block in blocks:
        rows = re.findall(r'^  (.+): (\d\.\d{4})  class (\d+)$', block,
                          re.MULTILINE)
        assert len(rows) == 5
        scores = [float(s) for _, s, _ in rows]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= int(c) < 1000 for _, _, c in rows)


def test_checkpoint_of_another_model_is_refused(seg_checkpoint, images,
                                                tmp_path):
    img = osp.join(images['cls'], sorted(os.listdir(images['cls']))[0])
    r = _run(img, CLS, seg_checkpoint, '--out-dir', str(tmp_path))
    assert r.returncode != 0
    assert 'does not fit ImageClassifier' in r.stderr
    assert 'head.l.weight' in r.stderr and 'head.bn.weight' in r.stderr
    assert 'Traceback' not in r.stderr
    assert not os.listdir(tmp_path)
    # on purpose, what fits is loaded and the head stays random
    r = _run(img, CLS, seg_checkpoint, '--out-dir', str(tmp_path),
             '--allow-partial-load')
    _ok(r)
    assert 'Partial load' in r.stdout + r.stderr
    assert osp.isfile(tmp_path / (osp.splitext(osp.basename(img))[0] +
                                  '.png'))


def _broken(kind, good):
    data = open(good, 'rb').read()
    return {'garbage': b'not a jpeg at all' * 20,
            'truncated': data[:len(data) // 2],
            'empty': b''}[kind]


@pytest.mark.parametrize('kind', ['garbage', 'truncated', 'empty'])
def test_read_image_names_a_broken_file(kind, images, tmp_path):
    good = osp.join(images['cls'], sorted(os.listdir(images['cls']))[0])
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(_broken(kind, good))
    with pytest.raises(ImageReadError, match=re.escape(f"'{bad}'")):
        read_image(str(bad))
    img = read_image(good)  # a good one decodes to RGB
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8


def test_corrupt_image_in_folder_is_named(images, tmp_path):
    folder = tmp_path / 'imgs'
    folder.mkdir()
    good = osp.join(images['cls'], sorted(os.listdir(images['cls']))[0])
    (folder / 'a_good.jpg').write_bytes(open(good, 'rb').read())
    bad = folder / 'b_bad.jpg'
    bad.write_bytes(_broken('truncated', good))
    out_dir = tmp_path / 'out'
    r = _run(str(folder), CLS, '--out-dir', str(out_dir))
    assert r.returncode != 0
    assert f"Cannot read image '{bad}'" in r.stderr
    assert 'a_good' not in r.stderr and 'Traceback' not in r.stderr
    assert not out_dir.exists()  # refused before any work


def test_missing_files_are_named(images, tmp_path):
    img = osp.join(images['cls'], sorted(os.listdir(images['cls']))[0])
    cases = [
        ((str(tmp_path / 'nope.jpg'), CLS),
         f"Image not found: '{tmp_path / 'nope.jpg'}'"),
        ((img, 'configs/no_such.py'),
         "Config file not found: 'configs/no_such.py'"),
        ((img, CLS, str(tmp_path / 'gone.pth')),
         f"Checkpoint not found: '{tmp_path / 'gone.pth'}'"),
    ]
    for args, message in cases:
        r = _run(*args, '--out-dir', str(tmp_path / 'out'))
        assert r.returncode != 0, args
        assert message in r.stderr, r.stderr[-2000:]
        assert 'Traceback' not in r.stderr
    assert not (tmp_path / 'out').exists()


def test_deploy_bf16_forms_say_so_and_agree_with_fp32(images,
                                                      seg_checkpoint,
                                                      tmp_path):
    """--deploy/--bf16 predict with the model's inference form, print which
    form ran, and paint (nearly) the class map of the model as trained."""
    def fractions(out):
        return {n: float(p) for n, p in re.findall(
            r'^  (\w+): ([\d.]+)% of the pixels$', out, re.MULTILINE)}

    ref = _ok(_run(images['seg'], SEG, seg_checkpoint, '--out-dir',
                   str(tmp_path / 'fp32'), '--device', 'cpu'))
    assert 'inference form: as trained (fp32)' in ref
    out = _ok(_run(images['seg'], SEG, seg_checkpoint, '--out-dir',
                   str(tmp_path / 'bf16'), '--device', 'cpu', '--deploy',
                   '--bf16'))
    assert 'inference form: deploy + bf16 autocast (CPU)' in out
    assert osp.isfile(tmp_path / 'bf16' / 'seg_scene.png')
    ref, got = fractions(ref), fractions(out)
    assert ref and set(got) <= set(CKPT_CLASSES)
    for name in set(ref) | set(got):
        assert abs(got.get(name, 0) - ref.get(name, 0)) < 2, (ref, got)
    # detection: NMS and RoIAlign run on float32 from the bf16 heads
    out = _ok(_run(images['det'], DET, '--out-dir', str(tmp_path / 'det'),
                   '--device', 'cpu', '--bf16', '--pred-score-thr', '0'))
    assert 'inference form: bf16 autocast (CPU)' in out
    assert re.findall(r'^  (\w+): \d\.\d{4}  box \[', out, re.MULTILINE)


def test_large_image_is_predicted_resized_with_a_note(images, tmp_path):
    """An image larger than --max-size is predicted resized down to it (the
    inferencers keep full-size results: class scores of every class), and
    the tool says so; the picture has the reduced size."""
    big = tmp_path / 'big.png'
    with Image.open(images['seg']) as im:
        im.resize((336, 384)).save(big)  # W 336 x H 384
    out = _ok(_run(str(big), SEG, '--out-dir', str(tmp_path / 'out'),
                   '--device', 'cpu', '--max-size', '192'))
    assert (f'note: {big} is 336x384 px, larger than the limit of 192 px a '
            'side') in out
    assert 'resized to 168x192 px' in out and '--max-size' in out
    with Image.open(tmp_path / 'out' / 'big.png') as im:
        assert im.size == (168, 192)
    # at or below the limit: no note, full size
    out = _ok(_run(str(big), SEG, '--out-dir', str(tmp_path / 'out'),
                   '--device', 'cpu', '--max-size', '384'))
    assert 'note:' not in out
    with Image.open(tmp_path / 'out' / 'big.png') as im:
        assert im.size == (336, 384)


def test_default_max_size_follows_the_class_scores():
    from mmhybrid.apis.inference import MAX_SIZE, default_max_size
    assert default_max_size('detection', 80) == MAX_SIZE
    # segmentation: full-size results of 2 GiB at most (class scores: 4
    # bytes a class and pixel): smaller with more classes
    assert default_max_size('segmentation', 4) == 2764
    assert default_max_size('segmentation', 150) == 1575


def test_float_tiff_is_refused_with_what_is_supported(tmp_path):
    tif = tmp_path / 'depth.tif'
    Image.fromarray(np.ones((64, 48), np.float32), mode='F').save(tif)
    r = _run(str(tif), SEG, '--out-dir', str(tmp_path / 'out'), '--device',
             'cpu')
    assert r.returncode == 1
    assert f"tools/inference.py: error: Cannot read image '{tif}'" in \
        r.stderr
    assert '32-bit floating point' in r.stderr and 'RGB' in r.stderr
    assert 'Traceback' not in r.stderr


def test_single_pixel_image_is_refused_by_segmentation(tmp_path):
    one = tmp_path / 'dot.png'
    Image.new('RGB', (1, 1), (200, 10, 10)).save(one)
    r = _run(str(one), SEG, '--out-dir', str(tmp_path / 'out'), '--device',
             'cpu')
    assert r.returncode == 1
    assert f"tools/inference.py: error: Cannot segment image '{one}': it " \
        'is a single pixel (1x1 px)' in r.stderr
    assert 'Traceback' not in r.stderr
    # two pixels are enough
    two = tmp_path / 'dash.png'
    Image.new('RGB', (2, 1), (200, 10, 10)).save(two)
    _ok(_run(str(two), SEG, '--out-dir', str(tmp_path / 'out'), '--device',
             'cpu'))
