#!/usr/bin/env bash
# Rebuild the default model bundle 2.0.0 (edge_screen/models/default) from fundus-dev + fundus-extra,
# with edge-screen's own commands, on a CPU. MODEL_CARD.md has what it produced and measured.
#
#   bash quantize/recipes/default_model.sh [WORK_DIR]
#
# Environment: DEV, EXTRA (labels.csv of the two sets), CACHE (frozen-feature cache), BUNDLE (output
# bundle, default WORK/bundle), EXPORT_FLAGS (extra flags for every `edge-screen export` call),
# TEACHER=0 to skip the EfficientNet-Lite2 teacher (the student then trains without distillation).
#
# Every stage is measured leave-one-source-out (IDRiD, ODIR, AIROGS, SRahim; the two ODIR-derived sets
# are one source) and skipped when its output exists, so a stopped run continues:
#   1. probe    the floor: frozen ImageNet EfficientNet-Lite0 @384 + logistic regression, C chosen out of source
#   2. teacher  frozen ImageNet EfficientNet-Lite2 @512 + logistic regression (its fold models' logits teach)
#   3. student  EfficientNet-Lite0 @384 LP-FT from the probe (camera-augmented views, source x label
#               sampling, EMA), distilled from the teacher; the number of epochs is chosen out of source.
#               The command exits non-zero, and this script stops, when the student is below the probe
#               floor (pooled or any source's AUC under the probe's 95% CI).
#   4. export   FP32 ONNX, ONNX Runtime INT8, OpenVINO INT8, TensorRT Q/DQ ONNX (one block below: add
#               flags through EXPORT_FLAGS or in export_bundle()).
#   5. check    the bundle's FP32 ONNX scores equal the checkpoint's on the quantization-report images.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DEV=${DEV:-$HERE/../../../shared/data/fundus-dev/labels.csv}
EXTRA=${EXTRA:-$HERE/../../../shared/data/fundus-extra/labels.csv}
WORK=${1:-runs/default2}
CACHE=${CACHE:-${EDGE_SCREEN_FEATURE_CACHE:-$HOME/.cache/edge-screen/features}}
BUNDLE=${BUNDLE:-$WORK/bundle}
VERSION=${VERSION:-2.0.0}
TEACHER=${TEACHER:-1}
read -r -a EXTRA_EXPORT <<< "${EXPORT_FLAGS:-}"
DATA=(--data "$DEV" "$EXTRA" --cache-features "$CACHE" --no-progress)
# LP-FT settings chosen by the ablation (MODEL_CARD.md): train the 1x1 head conv + classifier (stage 8)
# on cached stage-7 features, 3 views (plain, flip, one camera-augmented view), at most 3 epochs.
LPFT=(--stages 7 --ft-stage 8 --ft-views 3 --ft-epochs 3 --ft-steps 25 --ft-lr 3e-4 --balance source_label
      --head-init probe --ema 0.98 --probe-views 2)
mkdir -p "$WORK"
run() { echo "+ $*" >&2; "$@"; }

# 1. the probe floor (also the fallback model: one Linear layer on the frozen backbone)
[ -f "$WORK/probe/best.pt" ] || run edge-screen train --linear-probe --model effnet_lite0 --img-size 384 \
    --probe-views 2 "${DATA[@]}" --out "$WORK/probe"

# 2. teacher
if [ "$TEACHER" = 1 ]; then
  [ -f "$WORK/teacher/best.pt" ] || run edge-screen train --linear-probe --model effnet_lite2 --img-size 512 \
      --probe-views 1 "${DATA[@]}" --out "$WORK/teacher"
  STUDENT=(edge-screen distill --lpft --teacher "$WORK/teacher" --student effnet_lite0 --kd-weight "${KD:-0.5}")
else
  STUDENT=(edge-screen train --lpft --model effnet_lite0)
fi

# 3. student (refuses, exit 2, a model below the probe floor)
[ -f "$WORK/student/best.pt" ] || run "${STUDENT[@]}" --img-size 384 "${LPFT[@]}" "${DATA[@]}" --out "$WORK/student"
CK=$WORK/student/best.pt

# 4. export ------------------------------------------------------------------------------------------
# Calibration: 300 images drawn across sources; the quantization report: 400 others (both are training
# images: the report compares INT8 with FP32 on them, it is not an accuracy estimate).
export_bundle() {
  local ck=$1 out=$2
  python3 "$HERE/sample_csv.py" --data "$DEV" "$EXTRA" --out "$WORK" --calib 300 --report 400
  local X=(--model "$ck" --name edge-screen-default --version "$VERSION" --calib "$WORK/calib.csv" --calib-images 300
           --val "$WORK/report.csv" --out "$out" "${EXTRA_EXPORT[@]}")
  run edge-screen export "${X[@]}" --format onnx --precision fp32
  run edge-screen export "${X[@]}" --format onnx --precision int8
  run edge-screen export "${X[@]}" --format openvino --precision int8
  run edge-screen export "${X[@]}" --format tensorrt --precision int8
}
[ -f "$BUNDLE/manifest.json" ] || export_bundle "$CK" "$BUNDLE"

# 5. the shipped files score like the checkpoint
for bp in onnxruntime:fp32 onnxruntime:int8 openvino:int8; do
  b=${bp%:*} p=${bp#*:}
  [ -f "$WORK/bundle_eval_${b}_$p/report.json" ] || run edge-screen evaluate --model "$BUNDLE" --backend "$b" \
      --precision "$p" --data "$WORK/report.csv" --group-by source_repo --out "$WORK/bundle_eval_${b}_$p" > /dev/null
done
du -sh "$BUNDLE"
echo "done: $BUNDLE (student $CK; leave-one-source-out report $WORK/student/loso.json)"
