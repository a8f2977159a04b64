"""Install (or, with --remove, remove) the torchvision stand-in for mmcv's
compiled ops (:mod:`mmhybrid.engine.mmcv_ext_torchvision`) as ``_ext.py`` of
an mmcv installed without them (``mmcv-lite``). ``make install`` runs it
when it installs mmcv-lite; ``make mmcv-ext-remove`` runs it with --remove::

    python tools/misc/mmcv_ext_torchvision.py [MMCV_DIR]
    python tools/misc/mmcv_ext_torchvision.py --remove [MMCV_DIR]

MMCV_DIR defaults to the installed mmcv package's folder. Installing is
refused where mmcv's own compiled ops are there; removing removes only a
file carrying the stand-in's marker line. Imports no mmcv (so that it runs
before the stand-in is there).
"""
import argparse
import sys

from mmhybrid.engine import (find_mmcv_dir, install_mmcv_ext_stand_in,
                             remove_mmcv_ext_stand_in)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('mmcv_dir', nargs='?',
                        help='the folder of the mmcv package (default: the '
                        'installed mmcv)')
    parser.add_argument('--remove', action='store_true',
                        help='remove the stand-in instead of installing it')
    args = parser.parse_args()
    try:
        mmcv_dir = args.mmcv_dir or find_mmcv_dir()
        if args.remove:
            removed = remove_mmcv_ext_stand_in(mmcv_dir)
            for path in removed:
                print(f'removed {path}')
            if not removed:
                print(f'no stand-in in {mmcv_dir}: nothing removed')
        else:
            dst = install_mmcv_ext_stand_in(mmcv_dir)
            print(f'wrote {dst} (the torchvision stand-in for mmcv\'s '
                  'compiled ops; remove it with `make mmcv-ext-remove` or '
                  f'`python {sys.argv[0]} --remove {mmcv_dir}`)')
    except (OSError, ModuleNotFoundError) as e:
        print(f'{parser.prog}: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
