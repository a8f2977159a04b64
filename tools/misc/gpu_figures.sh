#!/usr/bin/env bash
# The GPU figures of issue 12, in one run on a CUDA machine (never run yet: no
# GPU has been lent so far). From the repository root, the stack installed:
#   bash tools/misc/gpu_figures.sh [OUT_DIR]       (default work_dirs/gpu)
# 1. SHViT s1-s4 with the paper's protocol (batch 256, AMP, BN fused, 10 s of
#    warm-up), ours and timm alternating every iteration;
# 2. the whole predict of Mask R-CNN SHViT-S4 against mmdet's own R50, part by
#    part (fp32, deploy);
# 3. tools/dist_train.sh on the toy Mask R-CNN for a few iterations (the
#    launcher's CUDA path).
# Each step's output goes to OUT_DIR/<step>.log; a failing step does not stop
# the others, and the script exits non-zero if any failed.
set -u
OUT=${1:-work_dirs/gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0
step() {  # step NAME COMMAND...
    local name=$1; shift
    echo "== $name: $*"
    if ! "$@" > "$OUT/$name.log" 2>&1; then
        echo "!! $name failed (exit $?); see $OUT/$name.log"; status=1
    fi
    grep '^|' "$OUT/$name.log" || tail -n 5 "$OUT/$name.log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    > "$OUT/gpu.txt" 2>&1; cat "$OUT/gpu.txt"
for arch in s1 s2 s3; do
    step "shvit_$arch" python tools/analysis_tools/benchmark.py \
        --backbone SHViT --arch $arch --shape 224 --device cuda \
        --batch-size 256 --amp --deploy --compare-timm --warmup-secs 10 \
        --secs 10 --no-progress --out "$OUT/shvit_$arch.json"
done
step shvit_s4 python tools/analysis_tools/benchmark.py \
    --backbone SHViT --arch s4 --shape 256 --device cuda --batch-size 256 \
    --amp --deploy --compare-timm --warmup-secs 10 --secs 10 --no-progress \
    --out "$OUT/shvit_s4.json"
step maskrcnn_task python tools/analysis_tools/benchmark.py \
    configs/maskrcnn_shvit_s4_coco.py --task --deploy --device cuda \
    --baseline mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py \
    --warmup-secs 5 --secs 20 --no-progress --out "$OUT/maskrcnn_task.json"
[ -d data/toy/coco ] || python tools/misc/make_toy_data.py --out data/toy
step dist_train bash tools/dist_train.sh configs/demo/maskrcnn_shvit_s1_toy.py \
    1 --work-dir "$OUT/dist_train" --cfg-options train_cfg.max_epochs=1 \
    default_hooks.logger.interval=1
exit $status
