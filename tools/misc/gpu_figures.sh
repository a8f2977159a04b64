#!/usr/bin/env bash
# The GPU figures of issues 12 and 21, in one run on a CUDA machine (at most
# 10 minutes on one H100/H200). From the repository root, the stack installed
# (on a machine with torch but no mm* packages and no network: the wheels of
# tools/misc/gpu_wheels.sh, carried and installed as its header says):
#   bash tools/misc/gpu_figures.sh [OUT_DIR]       (default work_dirs/gpu)
# 1. SHViT s1-s4 with the paper's protocol (batch 256, AMP, BN fused, 10 s of
#    warm-up), ours and timm's fused model alternating every iteration (the
#    unfused form is timed too), then S4's deploy form under torch.compile;
# 2. the whole predict of Mask R-CNN SHViT-S4 against mmdet's own R50, part by
#    part (fp32, as trained and deploy), at batch 1 and batch 8;
# 3. the training step (forward, backward, optimizer; AMP) of Mask R-CNN
#    SHViT-S4 against R50, 2 images per GPU: img/s and peak memory;
# 4. tools/dist_train.sh on the toy Mask R-CNN for one epoch (the launcher's
#    CUDA path).
# OUT_DIR receives one .log (and .json) per step and gpu.txt; the training's
# work dir is WORK_DIR (default work_dirs/gpu_train). A failing step does not
# stop the others, and the script exits non-zero if any failed. DEVICE,
# BATCH, WARMUP and SECS (defaults cuda, 256, 10, 10) shrink it for a dry run
# on a CPU (AMP and compile steps need CUDA and are skipped there).
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
R50=mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py
cuda=0; [ "${DEVICE%%:*}" = cuda ] && cuda=1
[ $cuda = 1 ] && step shvit_s4_compile $bench --backbone SHViT --arch s4 \
    --shape 256 --batch-size "$BATCH" --amp --deploy --compile \
    --compare-timm --warmup-secs "$WARMUP" --secs "$SECS" \
    --out "$OUT/shvit_s4_compile.json"
for b in 1 8; do
    step maskrcnn_task_b$b $bench configs/maskrcnn_shvit_s4_coco.py --task \
        --deploy --batch-size $b --baseline $R50 --warmup-secs 5 \
        --secs "$SECS" --out "$OUT/maskrcnn_task_b$b.json"
done
amp=; [ $cuda = 1 ] && amp=--amp
step maskrcnn_train $bench configs/maskrcnn_shvit_s4_coco.py --train $amp \
    --batch-size 2 --baseline $R50 --warmup-secs 5 --secs "$SECS" \
    --out "$OUT/maskrcnn_train.json"
[ -d data/toy/coco ] || "$PY" tools/misc/make_toy_data.py --out data/toy \
    > /dev/null
step dist_train bash tools/dist_train.sh configs/demo/maskrcnn_shvit_s1_toy.py \
    1 --work-dir "$WORK_DIR" --cfg-options train_cfg.max_epochs=1 \
    default_hooks.logger.interval=5
grep -E 'Epoch\(train\).*\] *\[ *[0-9]+/|bbox_mAP:|Distributed|CUDA available|device' \
    "$OUT/dist_train.log" | head -n 20
exit $status
