"""Install the torchvision stand-in for mmcv's compiled ops
(:mod:`mmhybrid.engine.mmcv_ext_torchvision`: ``nms`` and ``roi_align``
through torchvision's kernels, every other op raising) as ``_ext.py`` of an
mmcv installed without them. Only for a machine where mmcv's compiled ops
cannot be had (the GPU machine of ``tools/misc/gpu_figures.sh``)::

    PYTHONPATH=/tmp/site python tools/misc/mmcv_ext_torchvision.py \\
        /tmp/site/mmcv

Refused where mmcv's own compiled ops are installed. Imports no mmcv (so
that it runs before the stand-in is there).
"""
import argparse
import sys

from mmhybrid.engine import install_mmcv_ext_stand_in


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('mmcv_dir', help='the folder of the mmcv package')
    args = parser.parse_args()
    try:
        print(f'wrote {install_mmcv_ext_stand_in(args.mmcv_dir)}')
    except OSError as e:
        print(f'{parser.prog}: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
