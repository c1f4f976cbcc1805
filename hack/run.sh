#!/usr/bin/env bash
# `make run`: run the controller in the foreground.
#  - With a cluster configured (KUBECONFIG set, or ~/.kube/config present):
#    install the CRD there and run bin/mydemo-controller against it.
#  - Otherwise: start a local control plane under .state/ with a demo
#    Mydemo and run the controller against it (hack/localrun).
# Extra controller flags: make run ARGS="--v=4".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
read -r -a extra <<<"${ARGS:-}"

if [[ -n "${KUBECONFIG:-}" || -f "${HOME}/.kube/config" ]]; then
  echo "Using the cluster of ${KUBECONFIG:-${HOME}/.kube/config}"
  bin/kubectl apply --server-side -f crd/
  bin/kubectl wait --for=condition=Established --timeout=60s crd/mydemos.crddemo.k8s.io
  exec bin/mydemo-controller --leader-elect-resource-namespace="${LEASE_NAMESPACE:-default}" "${extra[@]}"
fi

go build -o bin/localrun ./hack/localrun
exec bin/localrun -state "${ROOT}/.state" -bin "${ROOT}/bin" -- "${extra[@]}"
