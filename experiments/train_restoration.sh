#!/usr/bin/env bash
# Train darkroom's restoration models side by side on one GPU, with the recipes in configs/gpu:
#   bash experiments/train_restoration.sh [MINUTES] [RUNS_DIR]
# Needs data/photos-half (python experiments/pack_photos.py /usr/share/backgrounds data/photos-half).
# Every run gets MINUTES of wall clock, except the colorizers: the contrastive pretraining (simclr-gray)
# takes the first third, then colorize (from scratch) and colorize-pretrained train side by side for
# the same time, so the two compare at an equal budget; the inpainter trains on 128 px patches, then
# is fine-tuned on 256 px ones. Logs go to RUNS_DIR/NAME.log.
set -u
minutes=${1:-8}
runs=${2:-runs}
darkroom=${DARKROOM:-darkroom}
mkdir -p "$runs"
pre=$(python3 -c "print(round($minutes / 3, 2))")
rest=$(python3 -c "print(round($minutes - $minutes / 3, 2))")

train() {  # NAME MODEL MINUTES [extra args]
  local name=$1 model=$2 budget=$3
  shift 3
  $darkroom train "$model" --config "configs/gpu/$name.toml" --out "$runs/$name" --minutes "$budget" --quiet "$@" \
    > "$runs/$name.log" 2>&1
  echo "$name: exit $? ($(tail -n 1 "$runs/$name.log" | cut -c1-200))"
}

train denoise denoise "$minutes" &
train sr-x2 sr "$minutes" &
train sr-x4 sr "$minutes" &
train sr-x2-large sr "$minutes" &
train sr-x4-large sr "$minutes" &
(
  train inpaint-128 inpaint "$minutes"
  train inpaint inpaint 6.2 --set "train.init=$runs/inpaint-128"
) &
(
  train simclr-gray simclr "$pre"
  train colorize colorize "$rest" &
  train colorize-pretrained colorize "$rest" --set "model.pretrained=$runs/simclr-gray" &
  wait
) &
wait
