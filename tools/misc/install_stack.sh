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

# 2. build tools; setuptools < 81 also at run time (mmengine needs
#    pkg_resources for mmdet::/mmseg:: config bases).
$PIP -q 'setuptools>=77,<81' wheel ninja

# 3. mmengine, then mmcv 2.1.0 built from source with ops (no wheel exists for
#    this torch; ~25 min on 2 cores the first time, pip caches the wheel).
$PIP -q 'mmengine==0.10.7'
if $PY -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
    say "mmcv 2.1.0 with ops: already installed"
else
    say "building mmcv 2.1.0 with ops from source (about 25 min on 2 cores; cached afterwards)"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP --no-build-isolation 'mmcv==2.1.0'
fi

# 4. the three frameworks and what they import, the analysis tools' packages
#    (timm for --compare-timm, onnx/onnxruntime, coremltools for the Core ML
#    export, grad-cam), and mmhybrid.
$PIP -q 'mmdet==3.3.0' 'mmsegmentation==1.2.2' 'mmpretrain==1.2.0' \
    pycocotools ftfy regex matplotlib pytest \
    'timm>=1.0.16' onnx onnxruntime 'coremltools>=9.0' grad-cam
# mmdeploy 1.3.1 (whole-model ONNX export, mmhybrid.deploy) without its pins
# (protobuf<=3.20.2 would break onnx/onnxruntime/coremltools here): its
# Python side runs with today's onnx and protobuf, and needs only these.
$PIP -q --no-deps 'mmdeploy==1.3.1' aenum multiprocess prettytable terminaltables six
$PIP -q --no-deps --no-build-isolation -e .

# 5. verify.
$PY - <<'PYEOF'
import mmcv, mmcv.ops, mmdeploy, mmdet, mmengine, mmpretrain, mmseg, torch
import mmhybrid.models
print(f'[install] ok: torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__} (ops), mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}')
PYEOF
