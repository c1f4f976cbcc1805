#!/usr/bin/env bash
# Fails when the product (go.mod), the control plane (hack/controlplane),
# helm (hack/helm), staticcheck (hack/staticcheck), promtool (hack/promtool)
# and CoreDNS (hack/coredns) build a package of the same module at different
# versions.
# make test builds all of them in one mode (static, -trimpath), so a module
# at one version compiles once for all of them; a version that differs
# compiles that module, and everything above it, again (minutes from a cold
# cache). Fix a difference by requiring the higher version in the module
# that has the lower one, then `go mod tidy` there.
set -euo pipefail
# sort and join must agree on the order.
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

# deps DIR [-test] PACKAGE... prints "module version" for every module that
# provides a package to DIR's build of PACKAGE..., itself excluded.
deps() {
  local dir="$1"; shift
  CGO_ENABLED=0 go -C "${dir}" list -deps \
    -f '{{with .Module}}{{if not .Main}}{{.Path}} {{with .Replace}}{{.Version}}{{else}}{{.Version}}{{end}}{{end}}{{end}}' "$@" |
    sort -u
}

deps "${ROOT}" -test ./... >"${tmp}/product"
deps "${ROOT}/hack/controlplane" . >"${tmp}/controlplane"
deps "${ROOT}/hack/helm" helm.sh/helm/v4/cmd/helm >"${tmp}/helm"
deps "${ROOT}/hack/staticcheck" honnef.co/go/tools/cmd/staticcheck >"${tmp}/staticcheck"
# The tag is the one make promtool builds with (no service discovery).
deps "${ROOT}/hack/promtool" -tags remove_all_sd github.com/prometheus/prometheus/cmd/promtool >"${tmp}/promtool"
deps "${ROOT}/hack/coredns" . >"${tmp}/coredns"

status=0
tools=(product controlplane helm staticcheck promtool coredns)
for a in "${tools[@]}"; do
  for b in "${tools[@]}"; do
    [[ "${a}" < "${b}" ]] || continue
    diff="$(join "${tmp}/${a}" "${tmp}/${b}" | awk '$2 != $3')"
    if [[ -n "${diff}" ]]; then
      echo "modules at different versions in ${a} and ${b} (module ${a} ${b}):"
      echo "${diff}" | sed 's/^/  /'
      status=1
    fi
  done
done
exit "${status}"
