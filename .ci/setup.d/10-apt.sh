#!/usr/bin/env bash
# Debian packages the tests use: etcd for the test control plane, Fashion-MNIST as real data.
set -euo pipefail
want=(etcd-server dataset-fashion-mnist)
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && { echo "apt: all present"; exit 0; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts etcd as a service on install where systemd runs; the tests start their own.
systemctl stop etcd 2>/dev/null || true
