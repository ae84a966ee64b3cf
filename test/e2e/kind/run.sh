#!/usr/bin/env bash
# The test:cluster journey on a kind cluster (RINGMASTER_E2E_TARGET=kind, harness/e2e-target.ts):
# creates the cluster from cluster.yaml, builds the operator and CPU trainer images from the
# repository's Dockerfiles with docker (or CONTAINER_ENGINE=podman), loads them with
# `kind load`, runs MinIO in the cluster (minio.yaml), installs the chart and runs
# test/cluster/journey.test.ts: apply → Succeeded, weights and checkpoints in MinIO, the
# fault cases, helm uninstall. Needs docker or podman, kind, kubectl and helm.
# Not runnable on the project's own machines (no Docker daemon there); see docs/deploy.md.
#
#   test/e2e/kind/run.sh                 # create cluster, run, delete cluster
#   KEEP_CLUSTER=1 test/e2e/kind/run.sh  # keep it (KIND_CLUSTER names it; default ringmaster-e2e)
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
export RINGMASTER_E2E_TARGET=kind
export HELM_BIN="${HELM_BIN:-$(command -v helm)}"
exec npx mocha --timeout 1200000 test/cluster/journey.test.ts
