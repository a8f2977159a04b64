"""Drawing predictions for people to look at: detections with their scores
on the same scale the console prints (:func:`score_text`), labels placed
beside the boxes rather than over the objects, and small images enlarged
for viewing (:func:`view_scale`, :func:`upscale`)."""
import math

import numpy as np

__all__ = ['score_text', 'view_scale', 'upscale', 'draw_detections']


def score_text(score):
    """A score in [0, 1] as the pictures and the console both write it:
    ``0.7399``."""
    return f'{float(score):.4f}'


def view_scale(height, width, view_size=0):
    """The whole factor by which an image of ``height`` x ``width`` px is
    enlarged so that its longest side is at least ``view_size`` px (1: an
    image already that large, or ``view_size`` 0/None)."""
    longest = max(int(height), int(width), 1)
    if not view_size or longest >= view_size:
        return 1
    return int(math.ceil(view_size / longest))


def upscale(array, factor):
    """``array`` (H, W[, C]) enlarged ``factor`` times by repeating each
    pixel (nearest neighbour: no colour or class is invented)."""
    if factor == 1:
        return array
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def _font(size):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _label_box(box, text_w, text_h, width, height):
    """Top-left corner of a label ``text_w`` x ``text_h`` px for ``box``
    (x0, y0, x1, y1): above the box, else below it, else inside its top
    edge; kept inside the picture."""
    x0, y0, x1, y1 = box
    if y0 - text_h >= 0:
        y = y0 - text_h
    elif y1 + text_h <= height:
        y = y1
    else:
        y = max(0, y0)
    x = min(max(0, x0), max(0, width - text_w))
    return int(x), int(y)


def draw_detections(image, boxes, labels, scores, masks=None, names=None,
                    colors=None, view_size=0, alpha=0.5):
    """Draw detections on an RGB ``image`` (H, W, 3 uint8).

    ``boxes`` (N, 4) x0, y0, x1, y1 in image pixels, ``labels`` (N,) class
    indices, ``scores`` (N,) in [0, 1], ``masks`` (N, H, W) bool or None,
    ``names`` the class names (else ``class <i>``), ``colors`` one RGB
    tuple per class (else grey). The picture is enlarged by
    :func:`view_scale` (``view_size``: the least longest side, px), masks
    and boxes with it. Each box is labelled ``<name>: <score>`` with
    :func:`score_text` (the console's figure), on a tag above the box (below
    or inside it at the picture's edge), best score drawn last. Returns an
    RGB uint8 array."""
    from PIL import Image, ImageDraw
    image = np.asarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    s = view_scale(h, w, view_size)
    canvas = upscale(image, s).astype(np.float32)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * s
    labels = np.asarray(labels).reshape(-1).astype(int)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not len(boxes) == len(labels) == len(scores):
        raise ValueError(f'{len(boxes)} boxes, {len(labels)} labels and '
                         f'{len(scores)} scores: one of each per detection')

    def color(label):
        if colors is not None and 0 <= label < len(colors):
            return tuple(int(c) for c in colors[label])
        return (160, 160, 160)

    def name(label):
        if names is not None and 0 <= label < len(names):
            return str(names[label])
        return f'class {label}'

    order = np.argsort(scores, kind='stable')  # best drawn last, on top
    if masks is not None:
        masks = np.asarray(masks).astype(bool)
        for i in order:
            m = upscale(masks[i], s)
            canvas[m] = (1 - alpha) * canvas[m] + alpha * np.asarray(
                color(labels[i]), np.float32)
    picture = Image.fromarray(canvas.round().clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    H, W = h * s, w * s
    size = int(np.clip(round(max(H, W) / 40), 10, 18))
    font = _font(size)
    width = max(1, round(max(H, W) / 256))
    for i in order:
        c = color(labels[i])
        x0, y0, x1, y1 = boxes[i]
        draw.rectangle([x0, y0, x1, y1], outline=c, width=width)
        text = f'{name(labels[i])}: {score_text(scores[i])}'
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left + 4, bottom - top + 4
        x, y = _label_box((x0, y0, x1, y1), tw, th, W, H)
        draw.rectangle([x, y, x + tw - 1, y + th - 1], fill=c)
        dark = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] < 140
        draw.text((x + 2 - left, y + 2 - top), text, font=font,
                  fill=(255, 255, 255) if dark else (0, 0, 0))
    return np.asarray(picture)
