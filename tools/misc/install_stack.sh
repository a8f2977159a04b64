#!/usr/bin/env bash
# Install the OpenMMLab 2.x stack mmhybrid runs on into the active Python.
# Idempotent: every step is skipped when what it installs already works.
# See README.md "What `make install` does".
set -euo pipefail
PY=${PYTHON:-python}
PIP="$PY -m pip install --disable-pip-version-check --root-user-action=ignore"

say() { echo "[install] $*"; }

# 1. torch + torchvision: keep the user's own pair when both import together
#    and torchvision's compiled ops run; otherwise the index's 2.13.0/0.28.0
#    (torch requested with === so pip does not take a local CPU-only file).
if $PY - <<'PYEOF' 2>/dev/null
import torch, torchvision
from torchvision.ops import nms
nms(torch.rand(2, 4), torch.rand(2), 0.5)
PYEOF
then
    say "torch $($PY -c 'import torch; print(torch.__version__)') with working torchvision ops: kept"
else
    say "installing torch 2.13.0 + torchvision 0.28.0 from the package index"
    $PIP 'torch===2.13.0' 'torchvision==0.28.0'
fi

# 2. setuptools < 81 also at run time (mmengine needs pkg_resources for
#    mmdet::/mmseg:: config bases).
$PIP -q 'setuptools>=77,<81' wheel

# 3. mmengine, then mmcv 2.1.0 in one of two forms (MMCV=auto|full|lite):
#    - a working compiled mmcv 2.1.0 (its own _ext) is always kept, never
#      shadowed;
#    - MMCV=full builds mmcv 2.1.0 with ops from source (no wheel exists for
#      this torch; a C++ compiler, and nvcc matching torch for CUDA; about
#      10 min on 2 cores the first time, pip caches the wheel);
#    - MMCV=auto (the default) and MMCV=lite install OpenMMLab's prebuilt
#      mmcv-lite==2.1.0 (mmcv without compiled ops) and, in step 4,
#      mmhybrid's torchvision stand-in for the ops the configs call as
#      <mmcv>/_ext.py.
MMCV=${MMCV:-auto}
case "$MMCV" in
    auto|full|lite) ;;
    *) echo "[install] error: MMCV=$MMCV: use MMCV=auto, full or lite" >&2; exit 2 ;;
esac
$PIP -q 'mmengine==0.10.7'
compiled_mmcv_works() {
    $PY - <<'PYEOF' 2>/dev/null
import importlib
import mmcv
assert mmcv.__version__ == '2.1.0'
import mmcv.ops  # noqa: F401
assert not importlib.import_module('mmcv._ext').__file__.endswith('.py')
PYEOF
}
installed() { $PY -m pip show -q "$1" >/dev/null 2>&1; }
if compiled_mmcv_works; then
    MMCV_FORM=full
    say "mmcv 2.1.0 with its compiled ops: already installed, kept"
    if [ "$MMCV" = lite ]; then
        say "(MMCV=lite does not replace a working compiled mmcv; 'pip uninstall mmcv' first to use mmcv-lite)"
    fi
elif [ "$MMCV" = full ]; then
    MMCV_FORM=full
    if installed mmcv-lite; then
        say "uninstalling mmcv-lite (replaced by mmcv with compiled ops)"
        $PY -m pip uninstall -y -q mmcv-lite
    fi
    $PIP -q ninja
    say "building mmcv 2.1.0 with ops from source (about 10 min on 2 cores; cached afterwards)"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP --no-build-isolation 'mmcv==2.1.0'
else
    MMCV_FORM=lite
    if installed mmcv; then
        say "mmcv is installed but its compiled ops do not work here: uninstalling it for mmcv-lite (MMCV=full rebuilds it)"
        $PY -m pip uninstall -y -q mmcv
    fi
    say "installing mmcv-lite 2.1.0 (prebuilt, no compiled ops; MMCV=full builds them)"
    $PIP -q 'mmcv-lite==2.1.0'
fi

# 4. the three frameworks, and what they import (with --no-deps plus their
#    listed requirements, so that pip never tries to build the `mmcv` they
#    require where mmcv-lite is installed), the analysis tools' packages
#    (timm for --compare-timm, onnx/onnxruntime, coremltools for the Core ML
#    export, grad-cam), and mmhybrid.
$PIP -q --no-deps 'mmdet==3.3.0' 'mmsegmentation==1.2.2' 'mmpretrain==1.2.0'
$PIP -q pycocotools scipy shapely six terminaltables tqdm packaging \
    prettytable einops importlib-metadata mat4py modelindex rich \
    ftfy regex matplotlib pytest \
    'timm>=1.0.16' onnx onnxruntime 'coremltools>=9.0' grad-cam
# mmdeploy 1.3.1 (whole-model ONNX export, mmhybrid.deploy) without its pins
# (protobuf<=3.20.2 would break onnx/onnxruntime/coremltools here): its
# Python side runs with today's onnx and protobuf, and needs only these.
$PIP -q --no-deps 'mmdeploy==1.3.1' aenum multiprocess prettytable terminaltables six
$PIP -q --no-deps --no-build-isolation -e .
# the torchvision stand-in for mmcv's compiled ops: installed with mmcv-lite,
# removed (only it) where the compiled ops are there
if [ "$MMCV_FORM" = lite ]; then
    say "installing mmhybrid's torchvision stand-in for mmcv's compiled ops (nms, roi_align, sigmoid_focal_loss):"
    $PY tools/misc/mmcv_ext_torchvision.py | sed 's/^/[install]   /'
else
    $PY tools/misc/mmcv_ext_torchvision.py --remove | grep -v 'nothing removed' | sed 's/^/[install]   /' || true
fi

# 5. verify.
$PY - <<'PYEOF'
import importlib
import mmcv, mmcv.ops, mmdeploy, mmdet, mmengine, mmpretrain, mmseg, torch
import mmhybrid.models
ext = importlib.import_module('mmcv._ext').__file__
form = ('ops: torchvision stand-in ' + ext if ext.endswith('.py')
        else 'compiled ops')
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
assert mmcv.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)[1].tolist() == [0]
mmcv.ops.roi_align(torch.rand(1, 1, 8, 8), torch.tensor([[0., 1, 1, 6, 6]]),
                   (2, 2))
print(f'[install] ok: torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__} ({form}), mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}')
if ext.endswith('.py'):
    print('[install] remove the stand-in with: make mmcv-ext-remove')
PYEOF
