"""Prediction pictures: the score on a box is the figure the console
prints (it used to read ``rectangle: 74.0`` beside a console's 0.7399),
labels sit beside the boxes, and small images are drawn enlarged."""
import re

import numpy as np
import pytest

from mmhybrid.apis import ImagePredictor, describe_prediction
from mmhybrid.visualization import (draw_detections, score_text, upscale,
                                    view_scale)

DET = 'configs/demo/maskrcnn_shvit_s1_toy.py'
SEG = 'configs/demo/fpn_shvit_s1_toy.py'
CLS = 'configs/imagenet_shvit_s1.py'


def test_view_scale_and_upscale():
    assert view_scale(128, 128, 512) == 4
    assert view_scale(96, 128, 512) == 4
    assert view_scale(100, 60, 512) == 6  # 600 px: at least 512
    assert view_scale(600, 800, 512) == 1  # already large enough
    assert view_scale(128, 128, 0) == 1
    a = np.arange(6).reshape(2, 3)
    up = upscale(a, 2)
    assert up.shape == (4, 6)
    assert (up[::2, ::2] == a).all() and (up[1::2, 1::2] == a).all()


def test_score_text_is_the_console_figure():
    assert score_text(0.73994) == '0.7399'
    line = describe_prediction(
        {'top': [('rectangle', 0.73994, 'box [1, 2, 3, 4]')]}, 'detection',
        5, 0.3)
    assert line == ['  rectangle: 0.7399  box [1, 2, 3, 4]']


def _text_pixels(picture, box, color):
    """Pixels of the label tag (filled with ``color``) above ``box``."""
    x0, y0, x1, _ = box
    tag = picture[:y0, x0:x1]
    return (tag == np.asarray(color, np.uint8)).all(-1).sum()


def test_draw_detections_enlarges_and_labels_beside_the_box():
    img = np.full((128, 128, 3), 200, np.uint8)
    masks = np.zeros((1, 128, 128), bool)
    masks[0, 60:90, 40:80] = True
    pic = draw_detections(img, [[40, 60, 80, 90]], [1], [0.7399],
                          masks=masks, names=['ellipse', 'rectangle'],
                          colors=[(0, 0, 0), (30, 60, 200)], view_size=512)
    assert pic.shape == (512, 512, 3) and pic.dtype == np.uint8
    # the tag is above the box (the box starts at y 240 in the picture)
    assert _text_pixels(pic, (160, 240, 320, 360), (30, 60, 200)) > 100
    # the object's inside is blended with the mask colour, not covered
    # by the tag: one colour all over it
    inside = pic[250:350, 170:310].reshape(-1, 3)
    assert len(np.unique(inside, axis=0)) == 1
    assert not (inside[0] == 200).all()
    # the picture outside boxes and masks is the image
    assert (pic[450:, 450:] == 200).all()
    # at view size 0 the picture has the image's size
    assert draw_detections(img, [[40, 60, 80, 90]], [1], [0.5]).shape == \
        (128, 128, 3)
    with pytest.raises(ValueError, match='one of each'):
        draw_detections(img, [[0, 0, 1, 1]], [0, 1], [0.5])


def test_label_at_the_top_edge_goes_below_the_box():
    img = np.full((128, 128, 3), 200, np.uint8)
    pic = draw_detections(img, [[10, 0, 60, 40]], [0], [0.9],
                          colors=[(10, 150, 10)], view_size=512)
    below = pic[161:200, 40:240]
    assert (below == np.asarray((10, 150, 10), np.uint8)).all(-1).sum() \
        > 100


@pytest.fixture(scope='module')
def det_predictor():
    return ImagePredictor(DET, device='cpu', pred_score_thr=0.0,
                          view_size=512)


def test_detection_picture_is_enlarged_and_scores_match(det_predictor,
                                                        toy_scenes):
    out = det_predictor(toy_scenes['det'])
    assert out['picture'].shape == (384, 512, 3)  # 96 x 128 image, 4x
    lines = describe_prediction(out, 'detection', 100, 0.0)
    figures = [re.search(r': (\d\.\d{4})  box', x).group(1) for x in lines]
    assert figures and figures == [score_text(s) for _, s, _ in out['top']]


def test_segmentation_and_classification_pictures_are_enlarged(toy_scenes):
    from PIL import Image
    seg = ImagePredictor(SEG, device='cpu', view_size=512)
    out = seg(toy_scenes['seg'])  # W 112 x H 128 -> 4x
    assert out['picture'].shape == (512, 448, 3)
    assert out['sem_seg'].shape == (128, 112)  # predicted as it is
    cls = ImagePredictor(CLS, device='cpu', view_size=512)
    import os
    path = os.path.join(toy_scenes['cls'],
                        sorted(os.listdir(toy_scenes['cls']))[0])
    with Image.open(path) as im:
        w, h = im.size
    out = cls(path)
    factor = view_scale(h, w, 512)
    assert factor > 1
    assert out['picture'].shape[0] >= h * factor
    assert out['picture'].shape[1] > w * factor


def test_view_size_is_checked():
    with pytest.raises(ValueError, match='view_size'):
        ImagePredictor(SEG, device='cpu', view_size=-1)
