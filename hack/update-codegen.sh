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
CODEGEN_PKG="$(go list -m -f '{{.Dir}}' k8s.io/code-generator)"
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
