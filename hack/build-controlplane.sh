#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl (the control
# plane), kube-scheduler, kubelet and kube-proxy (a real node for test/node) from
# the Go module proxy into bin/, using the pinned versions in hack/controlplane/go.mod.
# They are one executable, bin/controlplane (hack/controlplane/main.go), and
# bin/<component> is a symlink to it: it runs the component it is invoked as.
# The Kubernetes binaries get the same version stamp as an official release
# (see kubernetes' hack/lib/version.sh), so `--version` prints the real version.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOD="${ROOT}/hack/controlplane"
OUT="${OUT:-${ROOT}/bin}"
mkdir -p "${OUT}"

cd "${MOD}"
KUBE_VERSION="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
major="${KUBE_VERSION#v}"; major="${major%%.*}"
minor="${KUBE_VERSION#v*.}"; minor="${minor%%.*}"
# A fixed build date keeps the link inputs stable, so rebuilding is a cache hit.
build_date="$(go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"

ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION}"
  ldflags+=" -X ${pkg}.gitMajor=${major}"
  ldflags+=" -X ${pkg}.gitMinor=${minor}"
  ldflags+=" -X ${pkg}.gitTreeState=clean"
  ldflags+=" -X ${pkg}.buildDate=${build_date}"
done

# The components share most of their packages; as seven executables each
# linked them all again (about 3.7 times the code of one executable).
tmp="$(mktemp -d "${OUT}/.build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${ldflags}" -o "${tmp}/controlplane" .
components=(etcd kubectl kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
for c in "${components[@]}"; do
  ln -s controlplane "${tmp}/${c}"
done
# A rename replaces bin/<name> at once; a process already running keeps the
# executable it started from.
for f in controlplane "${components[@]}"; do
  mv -fT "${tmp}/${f}" "${OUT}/${f}"
done
"${OUT}/kube-apiserver" --version
