#!/usr/bin/env bash
# The GPU figures of issue 12, in one run on a CUDA machine. From the
# repository root, the stack installed:
#   bash tools/misc/gpu_figures.sh [OUT_DIR]       (default work_dirs/gpu)
# 1. SHViT s1-s4 with the paper's protocol (batch 256, AMP, BN fused, 10 s of
#    warm-up), ours and timm alternating every iteration (the unfused form is
#    timed too);
# 2. the whole predict of Mask R-CNN SHViT-S4 against mmdet's own R50, part by
#    part (fp32, as trained and deploy);
# 3. tools/dist_train.sh on the toy Mask R-CNN for one epoch (the launcher's
#    CUDA path).
# OUT_DIR receives at most 8 files: gpu.txt and one .log (and .json) per step;
# the training's work dir is WORK_DIR (default work_dirs/gpu_train). A failing
# step does not stop the others, and the script exits non-zero if any failed.
# DEVICE, BATCH, WARMUP and SECS (defaults cuda, 256, 10, 10) shrink it for a
# dry run on a CPU.
set -u
OUT=${1:-work_dirs/gpu}
WORK_DIR=${WORK_DIR:-work_dirs/gpu_train}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-256}
WARMUP=${WARMUP:-10}
SECS=${SECS:-10}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=$(command -v python || command -v python3)
status=0
step() {  # step NAME COMMAND...
    local name=$1; shift
    echo "== $name: $*"
    local t0=$SECONDS
    "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || { echo "!! $name failed (exit $rc); see $OUT/$name.log"; status=1; }
    echo "   ($((SECONDS - t0)) s)"
    grep '^|' "$OUT/$name.log" || tail -n 8 "$OUT/$name.log"
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PY" -c 'import torch, mmcv, mmdet; print("torch", torch.__version__, "cuda", torch.version.cuda, "| mmcv", mmcv.__version__, "| mmdet", mmdet.__version__)'
} > "$OUT/gpu.txt" 2>&1; cat "$OUT/gpu.txt"
bench="$PY tools/analysis_tools/benchmark.py --device $DEVICE --no-progress"
step shvit_s1-s3 $bench --backbone SHViT --arch s1 s2 s3 --shape 224 \
    --batch-size "$BATCH" --amp --deploy --compare-timm \
    --warmup-secs "$WARMUP" --secs "$SECS" --out "$OUT/shvit_s1-s3.json"
step shvit_s4 $bench --backbone SHViT --arch s4 --shape 256 \
    --batch-size "$BATCH" --amp --deploy --compare-timm \
    --warmup-secs "$WARMUP" --secs "$SECS" --out "$OUT/shvit_s4.json"
step maskrcnn_task $bench configs/maskrcnn_shvit_s4_coco.py --task --deploy \
    --baseline mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py \
    --warmup-secs 5 --secs "$SECS" --out "$OUT/maskrcnn_task.json"
[ -d data/toy/coco ] || "$PY" tools/misc/make_toy_data.py --out data/toy \
    > /dev/null
step dist_train bash tools/dist_train.sh configs/demo/maskrcnn_shvit_s1_toy.py \
    1 --work-dir "$WORK_DIR" --cfg-options train_cfg.max_epochs=1 \
    default_hooks.logger.interval=5
grep -E 'Epoch\(train\).*\] *\[ *[0-9]+/|bbox_mAP:|Distributed|CUDA available|device' \
    "$OUT/dist_train.log" | head -n 20
exit $status
