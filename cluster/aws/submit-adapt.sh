#!/usr/bin/env bash
# The cluster job of gpu-2x4-aws.yaml: prepare CIFAR-10 once into Parquet on S3 (the
# cluster downloads it with Keras), then DANN to fogged CIFAR-10 with 2 Ray Train workers
# x 4 GPUs, the backbone's last block training, runs on S3. Needs
# `ray dashboard cluster/aws/gpu-2x4-aws.yaml` running in another terminal.
#
#   BUCKET=s3://your-bucket/raydapt cluster/aws/submit-adapt.sh
set -euo pipefail
: "${BUCKET:?set BUCKET, e.g. s3://your-bucket/raydapt}"
export RAY_ADDRESS=http://127.0.0.1:8265

raydapt submit prepare --source cifar10:train --out "$BUCKET/data/cifar10-train"
raydapt submit prepare --source cifar10:test --out "$BUCKET/data/cifar10-test"

raydapt submit adapt \
  --source "parquet:$BUCKET/data/cifar10-train" --target "parquet:$BUCKET/data/cifar10-train" \
  --target-shift fog@4 \
  --source-val "parquet:$BUCKET/data/cifar10-test" --target-test "parquet:$BUCKET/data/cifar10-test" \
  --weights imagenet --feature-layer block4_pool --trainable top:1 --image-size 64 \
  --workers 2 --gpus-per-worker 4 --cpus-per-worker 8 --batch-size 64 --epochs 20 \
  --storage "$BUCKET/runs" --run-name dann-fog4-gpu-2x4
