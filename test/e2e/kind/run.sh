#!/usr/bin/env bash
# End-to-end on a real (kind) cluster: build the CPU images, load them into kind, install
# the chart, apply a tiny 2-worker recipe and wait for Succeeded, then check the weights in
# MinIO. Needs docker (or podman: KIND_EXPERIMENTAL_PROVIDER=podman), kind, kubectl, helm.
# Not runnable on the project's own machines (no container engine there); see docs/deploy.md.
#
#   test/e2e/kind/run.sh            # create cluster, run, delete cluster
#   KEEP_CLUSTER=1 test/e2e/kind/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cluster="${KIND_CLUSTER:-ringmaster-e2e}"
tag="${IMAGE_TAG:-e2e}"
ns=ringmaster-e2e
timeout="${E2E_TIMEOUT:-30m}"
engine="${CONTAINER_ENGINE:-docker}"

for tool in kind kubectl helm "$engine"; do
  command -v "$tool" >/dev/null || { echo "kind e2e: '$tool' not found" >&2; exit 2; }
done

cleanup() {
  status=$?
  if [ $status -ne 0 ]; then
    echo "== diagnostics"
    kubectl get trainingrecipes,pods,svc,cm,events -A -o wide || true
    kubectl -n "$ns" describe trainingrecipe kind-tiny || true
    kubectl -n "$ns" logs -l ringmaster.dev/recipe=kind-tiny --tail=200 --prefix || true
    kubectl -n ringmaster-system logs deploy/ringmaster --tail=200 || true
  fi
  [ -n "${KEEP_CLUSTER:-}" ] || kind delete cluster --name "$cluster" || true
  exit $status
}
trap cleanup EXIT

echo "== cluster"
kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" --config "$here/cluster.yaml" --wait 180s
kubectl config use-context "kind-$cluster"

echo "== images"
"$engine" build -f "$root/operator/Dockerfile" -t "ringmaster/operator:$tag" "$root"
"$engine" build -f "$root/trainer/Dockerfile" -t "ringmaster/trainer:$tag" "$root"
kind load docker-image --name "$cluster" "ringmaster/operator:$tag" "ringmaster/trainer:$tag"

echo "== operator (helm)"
helm lint "$root/charts/ringmaster"
helm upgrade --install ringmaster "$root/charts/ringmaster" \
  --namespace ringmaster-system --create-namespace \
  --set image.tag="$tag" --set image.pullPolicy=Never --set workerImage.tag="$tag" \
  --wait --timeout 5m

echo "== S3 (MinIO)"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$ns" apply -f "$here/minio.yaml"
kubectl -n "$ns" rollout status deploy/minio --timeout 5m

echo "== recipe"
kubectl -n "$ns" apply -f "$here/tiny-recipe.yaml"
kubectl -n "$ns" get trainingrecipes
kubectl -n "$ns" wait --for=condition=Succeeded trainingrecipe/kind-tiny --timeout "$timeout"
kubectl -n "$ns" get trainingrecipe kind-tiny -o yaml

echo "== weights"
weights="$(kubectl -n "$ns" get trainingrecipe kind-tiny -o jsonpath='{.status.weights}')"
echo "status.weights: $weights"
[ -n "$weights" ] || { echo "no weights URI in status" >&2; exit 1; }
kubectl -n "$ns" exec deploy/minio -- sh -c 'ls -l /data/ringmaster-e2e/kind-tiny/weights/'
kubectl -n "$ns" exec deploy/minio -- sh -c 'test -e /data/ringmaster-e2e/kind-tiny/weights/model.safetensors'
echo "kind e2e: passed"
