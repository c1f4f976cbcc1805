#!/usr/bin/env bash
# Fails when anything generated (deepcopy, pkg/generated, crd/) differs from
# what hack/update-codegen.sh produces from the current sources.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "${TMP}"' EXIT

# Generate into a copy of the sources so a stale tree is reported, not fixed.
tar -C "${ROOT}" --exclude=./bin --exclude=./.state --exclude=./.git --exclude=./_output -cf - . | tar -C "${TMP}" -xf -
"${TMP}/hack/update-codegen.sh" >/dev/null

status=0
for path in pkg/apis pkg/generated crd charts/mydemo-controller/crds; do
  if ! diff -Naupr "${ROOT}/${path}" "${TMP}/${path}"; then
    status=1
  fi
done
if [[ ${status} -ne 0 ]]; then
  echo "generated code is out of date: run 'make generate'" >&2
  exit 1
fi
echo "generated code is up to date"
