#!/usr/bin/env bash
# MinIO for the S3 integration tests, built from its Go module (no prebuilt downloads here).
# Idempotent: skipped when MINIO_BIN points at a binary or the cached build exists.
set -euo pipefail
# A pseudo-version: MinIO tags releases as RELEASE.<date>, which Go modules cannot name.
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
cache="${RINGMASTER_CACHE:-$HOME/.cache/ringmaster}"
bin="$cache/bin"
stamp="$bin/.minio-version"
if [ -n "${MINIO_BIN:-}" ] && [ -x "$MINIO_BIN" ]; then echo "minio: using MINIO_BIN=$MINIO_BIN"; exit 0; fi
if [ -x "$bin/minio" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$MINIO_VERSION" ]; then
  echo "minio: cached $bin/minio ($MINIO_VERSION)"; exit 0
fi
command -v go >/dev/null || { echo "minio: go toolchain not found" >&2; exit 1; }
mkdir -p "$bin"
start=$(date +%s)
# CGO off: a static binary, no C toolchain needed; -trimpath keeps builds reproducible.
CGO_ENABLED=0 GOBIN="$bin" GOFLAGS="${GOFLAGS:-} -trimpath" go install "github.com/minio/minio@$MINIO_VERSION"
echo "$MINIO_VERSION" > "$stamp"
echo "minio: built $MINIO_VERSION in $(( $(date +%s) - start ))s"
