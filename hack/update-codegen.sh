#!/usr/bin/env bash
# Regenerates everything that is generated from pkg/apis:
#   - deepcopy functions (k8s.io/code-generator deepcopy-gen),
#   - the typed clientset, listers, informers and apply configurations
#     under pkg/generated (k8s.io/code-generator kube_codegen.sh),
#   - the CustomResourceDefinition under crd/ (controller-gen, from markers).
# Tool versions come from go.mod, so every machine generates the same bytes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

MODULE="$(go list -m)"
# `go list -m -f {{.Dir}}` prints nothing for a module that is not in the
# module cache yet (a fresh machine), so download it first; the JSON answer
# names the directory either way.
CODEGEN_PKG="$(go mod download -json k8s.io/code-generator | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "${CODEGEN_PKG}" || ! -f "${CODEGEN_PKG}/kube_codegen.sh" ]]; then
  echo "cannot find k8s.io/code-generator (go mod download k8s.io/code-generator failed?)" >&2
  exit 1
fi
BOILERPLATE="${ROOT}/hack/boilerplate.go.txt"

# shellcheck source=/dev/null
source "${CODEGEN_PKG}/kube_codegen.sh"

kube::codegen::gen_helpers \
  --boilerplate "${BOILERPLATE}" \
  "${ROOT}/pkg/apis"

kube::codegen::gen_client \
  --with-watch \
  --with-applyconfig \
  --output-dir "${ROOT}/pkg/generated" \
  --output-pkg "${MODULE}/pkg/generated" \
  --boilerplate "${BOILERPLATE}" \
  "${ROOT}/pkg/apis"

# Remove only what controller-gen writes; crd/Kustomization is hand-written.
rm -f "${ROOT}"/crd/*.yaml
go tool controller-gen \
  crd:crdVersions=v1 \
  paths="./pkg/apis/..." \
  output:crd:dir="${ROOT}/crd"

# The Helm chart ships the same CRD (Helm installs crds/ before templates).
mkdir -p "${ROOT}/charts/mydemo-controller/crds"
cp "${ROOT}"/crd/*.yaml "${ROOT}/charts/mydemo-controller/crds/"
