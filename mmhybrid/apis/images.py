"""Image files a user brings: listing them and decoding them fully, with an
error that names the file and says what is wrong."""
import os
import os.path as osp

from .errors import ImageReadError

__all__ = ['IMAGE_EXTENSIONS', 'UNSUPPORTED_MODES', 'list_images',
           'read_image']

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp')


def list_images(path):
    """``path`` as a list of image files: the file itself, or the images
    (:data:`IMAGE_EXTENSIONS`) directly inside a folder, sorted."""
    if not osp.exists(path):
        raise FileNotFoundError(f'Image not found: {path!r}')
    if not osp.isdir(path):
        return [path]
    files = sorted(
        osp.join(path, name) for name in os.listdir(path)
        if name.lower().endswith(IMAGE_EXTENSIONS)
        and osp.isfile(osp.join(path, name)))
    if not files:
        raise FileNotFoundError(
            f'No images ({", ".join(IMAGE_EXTENSIONS)}) in the folder '
            f'{path!r}')
    return files


# Pillow modes of images that Pillow reads but OpenCV does not (float or
# 32-bit integer TIFFs: measurements, depth maps)
UNSUPPORTED_MODES = {'F': '32-bit floating point numbers',
                      'I': '32-bit integers'}


def read_image(path):
    """Decode ``path`` fully; an RGB uint8 array (H, W, 3). Raises
    :class:`ImageReadError` naming the file when it is empty, truncated,
    corrupt or not an image."""
    import cv2
    import mmcv
    from PIL import Image
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise ImageReadError(f'Cannot read image {path!r}: {e}') from e
    problem = None if data else 'the file is empty'
    mode = None
    if problem is None:
        try:  # PIL notices truncated files, which OpenCV decodes silently
            with Image.open(path) as im:
                im.load()
                mode = im.mode
        except Exception as e:  # noqa: BLE001 (PIL raises many kinds)
            problem = f'{type(e).__name__}: {e}'
    img = None
    if problem is None:
        try:
            img = mmcv.imfrombytes(data, flag='color', channel_order='rgb')
        except cv2.error:  # OpenCV decodes nothing, then cannot convert it
            img = None
        if img is None and mode in UNSUPPORTED_MODES:
            raise ImageReadError(
                f'Cannot read image {path!r}: its pixels are '
                f'{UNSUPPORTED_MODES[mode]} (Pillow mode {mode!r}), which '
                'OpenCV, and so the data pipelines, cannot load. Supported: '
                '8- or 16-bit grey, RGB or RGBA images (.jpg, .png, .bmp, '
                '.tif, .webp). Convert it, e.g. scale the values to 0-255 '
                'and save as PNG.')
        if img is None:
            problem = 'OpenCV cannot decode it'
    if problem is not None:
        raise ImageReadError(
            f'Cannot read image {path!r}: not a valid image file (corrupt, '
            f'truncated or another format) - {problem}')
    return img
