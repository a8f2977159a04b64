"""Installing :mod:`mmhybrid.engine.mmcv_ext_torchvision`, the torchvision
stand-in for mmcv's compiled ops, into an mmcv without them."""
import glob
import os.path as osp
import shutil

__all__ = ['MMCV_EXT_STAND_IN', 'install_mmcv_ext_stand_in']

# the stand-in's source file, copied as it is to <mmcv>/_ext.py
MMCV_EXT_STAND_IN = osp.join(osp.dirname(osp.abspath(__file__)),
                             'mmcv_ext_torchvision.py')


def install_mmcv_ext_stand_in(mmcv_dir):
    """Copy the stand-in to ``<mmcv_dir>/_ext.py`` and return that path.

    ``mmcv_dir`` is the folder of the ``mmcv`` package. Refused, with the
    reason, where it is not one, or where mmcv's own compiled ``_ext`` is
    there: mmcv's ops are the reference and must not be shadowed."""
    if not osp.isfile(osp.join(mmcv_dir, '__init__.py')):
        raise FileNotFoundError(
            f'{mmcv_dir!r} is not the folder of the mmcv package (it has no '
            '__init__.py)')
    compiled = sorted(glob.glob(osp.join(mmcv_dir, '_ext*.so')) +
                      glob.glob(osp.join(mmcv_dir, '_ext*.pyd')))
    if compiled:
        raise FileExistsError(
            f'mmcv\'s compiled ops are installed ({compiled[0]}): use them, '
            'the torchvision stand-in is only for an mmcv without ops')
    dst = osp.join(mmcv_dir, '_ext.py')
    shutil.copyfile(MMCV_EXT_STAND_IN, dst)
    return dst
