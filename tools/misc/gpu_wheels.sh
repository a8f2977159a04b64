#!/usr/bin/env bash
# Wheels for tools/misc/gpu_figures.sh on a GPU machine that has PyTorch,
# torchvision, timm, numpy, scipy, matplotlib, OpenCV and the like but no
# OpenMMLab packages and no network (Python 3.12, x86-64 manylinux). Run here,
# from the repository root, with a network:
#   bash tools/misc/gpu_wheels.sh [DIR]          (default .whl, git-ignored)
# Then there, with DIR carried beside the working tree:
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site DIR/*.whl
#   export PYTHONPATH=/tmp/site:$PWD
#   python3 tools/misc/mmcv_ext_torchvision.py /tmp/site/mmcv   # mmcv-lite's ops
#   bash tools/misc/gpu_figures.sh $OUT
# Only the OpenMMLab stack (mmcv-lite, not the compiled mmcv) and what it needs
# beyond such an image are fetched, without dependencies, so that none of the
# image's own packages (torch above all) is replaced.
set -eu
DIR=${1:-.whl}
PYVER=${PYVER:-3.12}
mkdir -p "$DIR"
# the stack of README "The stack", and the requirements the image lacks
pkgs=(mmcv-lite==2.1.0 mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2
      mmpretrain==1.2.0 addict yapf platformdirs termcolor terminaltables
      pycocotools shapely prettytable wcwidth mat4py modelindex model-index
      ordered-set 'importlib-metadata<8.8' ftfy
      # mmengine imports pkg_resources, gone from setuptools 81 on
      'setuptools>=77,<81')
plat=()
for n in 17 24 27 28 31 34; do plat+=(--platform "manylinux_2_${n}_x86_64"); done
plat+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64
       --platform any)
for p in "${pkgs[@]}"; do
    python3 -m pip download -q --no-deps --only-binary=:all: \
        --python-version "$PYVER" --implementation cp "${plat[@]}" \
        -d "$DIR" "$p" || { echo "no wheel for $p (Python $PYVER)"; exit 1; }
done
ls -1 "$DIR"
du -sh "$DIR"
# a folder inside the checkout stays out of git (and so travels only when
# the device call carries it)
case $DIR in
    /*|../*) ;;
    *) [ -d .git ] && ! grep -qx "/${DIR%/}/" .git/info/exclude 2>/dev/null \
           && echo "/${DIR%/}/" >> .git/info/exclude ;;
esac
true
