#!/bin/sh
# Render the detector's training data with the simulator (runtime venv) into DIR (default /tmp/mars_yolo):
#   DIR/trainval : preset 'field', seed 0, 700 frames (last 15% of the drive in time = validation)
#   DIR/heldout  : preset 'field', seed 1 (another world), 150 frames = the held-out test set of the card
#   DIR/data.yaml: ultralytics dataset file (train / val / test)
set -eu
DIR=${1:-/tmp/mars_yolo}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
cd "$REPO"
"$PY" -m mars_sim.cli --preset field --seed 0 --yolo-dataset "$DIR/trainval" --yolo-frames 700 --yolo-val-fraction 0.15
"$PY" -m mars_sim.cli --preset field --seed 1 --yolo-dataset "$DIR/heldout" --yolo-frames 150 --yolo-val-fraction 0.0
cat > "$DIR/data.yaml" <<YAML
path: $DIR
train: trainval/images/train
val: trainval/images/val
test: heldout/images/train
nc: 1
names:
  0: flower
YAML
echo "dataset ready: $DIR/data.yaml"
