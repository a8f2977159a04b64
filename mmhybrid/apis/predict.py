"""Predict on an image or a folder of images and save each picture as PNG
(what ``tools/inference.py`` runs): the inputs checked before the model is
built, one ``<stem>.png`` per image, and the lines that say what each
picture shows."""
import os.path as osp

from .images import list_images, read_image
from .inference import save_png

__all__ = ['check_predict_inputs', 'output_names', 'predict_images',
           'describe_prediction']


def check_predict_inputs(image, config, checkpoint=None):
    """The image files of ``image`` (a file or folder), each read once so
    that a broken one is named before any model is built; a missing config
    or checkpoint raises ``FileNotFoundError`` naming it."""
    images = list_images(image)
    for path in images:
        read_image(path)
    if not osp.isfile(config):
        raise FileNotFoundError(f'Config file not found: {config!r}')
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint not found: {checkpoint!r}')
    return images


def output_names(images):
    """``<stem>.png`` per image; the full file name where stems repeat."""
    stems = [osp.splitext(osp.basename(p))[0] for p in images]
    return [f'{s}.png' if stems.count(s) == 1 else f'{osp.basename(p)}.png'
            for s, p in zip(stems, images)]


def predict_images(predictor, images, out_dir, progress=True):
    """Draw the result of ``predictor`` (an
    :class:`~.inference.ImagePredictor`) on each image into
    ``<out_dir>/<name>.png`` (:func:`output_names`); a note on the resizing
    of an image is printed as it comes. Returns ``[(image, png, result)]``.
    """
    bar = None
    if progress and len(images) > 1:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(images))
    written = []
    for path, name in zip(images, output_names(images)):
        result = predictor(path)
        if result['note']:
            print(f'note: {result["note"]}', flush=True)
        out = save_png(result['picture'], osp.join(out_dir, name))
        written.append((path, out, result))
        if bar is not None:
            bar.update()
    if bar is not None:
        print(flush=True)
    return written


def _show(value, detail):
    from mmhybrid.visualization import score_text  # the pictures' figure
    return f'{value:.1%} {detail}' if detail == 'of the pixels' else \
        f'{score_text(value)}  {detail}'


def describe_prediction(result, task, topk, score_thr):
    """The lines that list one picture's top predictions (at most
    ``topk``), or say that no box reached ``score_thr``."""
    top = result['top'][:topk]
    lines = []
    if not top and task == 'detection':
        lines.append(f'  no box scored >= {score_thr} '
                     f'({result["num_instances"]} below)')
    for name, value, detail in top:
        lines.append(f'  {name}: {_show(value, detail)}')
    return lines

