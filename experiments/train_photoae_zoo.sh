#!/usr/bin/env bash
# A zoo of photo autoencoders (darkroom train photoae) for the generated-image detector's autoencode family:
#   bash experiments/train_photoae_zoo.sh OUT_DIR [MINUTES]      (two members at a time, one thread each)
# Every upsampler at latent factors 2, 4 and 8, with varied activations and widths; each member trains
# MINUTES (default 6) on 64 px patches of the train photos (data/photos-half: experiments/pack_photos.py).
set -euo pipefail
out=${1:?usage: train_photoae_zoo.sh OUT_DIR [MINUTES]}
minutes=${2:-6}
members=(
  "f4-nearest-relu      factor=4 upsample=nearest      activation=relu  width=32 latent=8"
  "f4-bilinear-silu     factor=4 upsample=bilinear     activation=silu  width=32 latent=8"
  "f4-transposed-lrelu  factor=4 upsample=transposed   activation=lrelu width=32 latent=8"
  "f4-pixelshuffle-gelu factor=4 upsample=pixelshuffle activation=gelu  width=32 latent=8"
  "f2-nearest-silu      factor=2 upsample=nearest      activation=silu  width=24 latent=4"
  "f2-transposed-relu   factor=2 upsample=transposed   activation=relu  width=24 latent=4"
  "f8-pixelshuffle-relu factor=8 upsample=pixelshuffle activation=relu  width=48 latent=16"
  "f8-bilinear-lrelu    factor=8 upsample=bilinear     activation=lrelu width=48 latent=16"
)
mkdir -p "$out"
train() {
  read -r name settings <<< "$1"
  sets=()
  for kv in $settings; do sets+=(--set "model.$kv"); done
  OMP_NUM_THREADS=1 darkroom train photoae --data photos:data/photos-half,patch=64 --minutes "$minutes" \
    --steps 1000000 "${sets[@]}" --set train.sample_every=100000 --out "$out/$name" > "$out/$name.log" 2>&1
}
for ((i = 0; i < ${#members[@]}; i += 2)); do
  train "${members[i]}" &
  train "${members[i + 1]}" &
  wait
done
