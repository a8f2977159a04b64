from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


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
        'torch>=2.0',
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
    license='Apache License 2.0',
    zip_safe=False,
)
