#!/usr/bin/env bash
# libturbojpeg0: the train/eval transforms decode JPEGs through libjpeg-turbo's TurboJPEG API
# (trainer/data/transforms/turbojpeg.ts, via koffi). Without it they fall back to sharp.
set -euo pipefail
dpkg -s libturbojpeg0 >/dev/null 2>&1 && { echo "turbojpeg: present"; exit 0; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends libturbojpeg0
