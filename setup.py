import os
import os.path as osp
import shutil
import sys
import warnings

from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def add_mim_extension():
    """Put ``model-index.yml``, ``configs`` and ``tools`` into
    ``mmhybrid/.mim``, where ``mim search``/``mim list`` and MMPretrain's
    ``ModelHub`` (through :mod:`mmhybrid.engine.model_index`) look for them:
    symlinks for an editable install, copies for a wheel or sdist (as
    MMPretrain's own setup.py does)."""
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'install'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    repo_path = osp.dirname(osp.abspath(__file__))
    mim_path = osp.join(repo_path, 'mmhybrid', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for filename in ('tools', 'configs', 'model-index.yml'):
        src_path = osp.join(repo_path, filename)
        tar_path = osp.join(mim_path, filename)
        if not osp.exists(src_path):
            continue
        if osp.isfile(tar_path) or osp.islink(tar_path):
            os.remove(tar_path)
        elif osp.isdir(tar_path):
            shutil.rmtree(tar_path)
        if mode == 'symlink':
            os.symlink(osp.relpath(src_path, mim_path), tar_path)
        elif osp.isfile(src_path):
            shutil.copyfile(src_path, tar_path)
        elif osp.isdir(src_path):
            shutil.copytree(src_path, tar_path)
        else:
            warnings.warn(f'Cannot copy {src_path}.')


add_mim_extension()

setup(
    name='mmhybrid',
    version='0.1.0',
    description='Hybrid CNN-Transformer backbones for MMPretrain, '
    'MMDetection and MMSegmentation',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'data',
                                    'work_dirs')),
    python_requires='>=3.8',
    # The stack is installed by `make install` (tools/misc/install_stack.sh):
    # mmcv must be built from source against the installed torch.
    install_requires=[
        # torch.serialization.safe_globals (the scoped allow-list of
        # mmhybrid.engine.safe_load) and get_safe_globals exist from 2.5 on
        'torch>=2.5',
        'mmengine==0.10.7',
        'mmcv==2.1.0',
        'mmdet==3.3.0',
        'mmsegmentation==1.2.2',
        'mmpretrain==1.2.0',
        'pycocotools',
        'ftfy',
        'regex',
        'matplotlib',
    ],
    extras_require={'tests': ['pytest']},
    include_package_data=True,
    license='Apache License 2.0',
    zip_safe=False,
)
