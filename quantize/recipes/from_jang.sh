#!/usr/bin/env bash
# Distil a copy of the Jang et al. 2024 ImageNet+Fundus ResNet-50 (resnet50_512_ImageNet+Fundus.pth,
# the released whole-model pickle) into an edge-screen bundle like the default one:
#
#   bash quantize/recipes/from_jang.sh resnet50_512_ImageNet+Fundus.pth labels.csv runs/jang [BUNDLE]
#
# labels.csv: file,label[,extra columns] with label normal|abnormal (or any format `edge-screen train`
# reads). The released file is a pickle: it is opened with torch.load(weights_only=True) and an
# allow-list of exactly the torch/torchvision classes it needs; anything else is refused.
# Environment (defaults = the default model's settings): IMG=384 TEACHER_IMG=512 EPOCHS=20
# FREEZE=6 CALIB=300 STUDENT=effnet_lite0.
set -euo pipefail
CKPT=$1
DATA=$2
WORK=${3:-runs/jang}
BUNDLE=${4:-$WORK/bundle}
IMG=${IMG:-384}
TEACHER_IMG=${TEACHER_IMG:-512}
EPOCHS=${EPOCHS:-20}
FREEZE=${FREEZE:-6}
CALIB=${CALIB:-300}
STUDENT=${STUDENT:-effnet_lite0}
mkdir -p "$WORK"

# 1. distil: the teacher runs once per training image (cached), the student's frozen stem is cached
edge-screen distill --teacher "$CKPT" --teacher-model jang2024_resnet50 --teacher-img-size "$TEACHER_IMG" \
    --student "$STUDENT" --img-size "$IMG" --data "$DATA" --folds 5 --fold 0 --freeze-stages "$FREEZE" \
    --cache-features "$WORK/features" --alpha 0.5 --temperature 4 --beta 1 --epochs "$EPOCHS" --patience 6 \
    --no-progress --out "$WORK/student"

# 2. export: FP32 ONNX, ONNX Runtime INT8, OpenVINO INT8, TensorRT S8S8 Q/DQ ONNX, with reports
python3 "$(dirname "$0")/split_csv.py" "$WORK/student/split.csv" "$WORK"
X=(--model "$WORK/student/best.pt" --calib "$WORK/train.csv" --calib-images "$CALIB" --val "$WORK/val.csv" --out "$BUNDLE")
edge-screen export "${X[@]}" --format onnx --precision fp32
edge-screen export "${X[@]}" --format onnx --precision int8
edge-screen export "${X[@]}" --format openvino --precision int8
edge-screen export "${X[@]}" --format tensorrt --precision int8
echo "bundle: $BUNDLE"
