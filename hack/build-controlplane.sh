#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl (the control
# plane), kube-scheduler, kubelet and kube-proxy (a real node for test/node) from
# the Go module proxy into bin/, using the pinned versions in hack/controlplane/go.mod.
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

# One go build for every binary: its packages compile once, on every core,
# and the seven links run side by side instead of one after another.
pkgs=(
  go.etcd.io/etcd/server/v3
  k8s.io/kubernetes/cmd/kubectl
  k8s.io/kubernetes/cmd/kube-apiserver
  k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kube-scheduler
  k8s.io/kubernetes/cmd/kubelet
  k8s.io/kubernetes/cmd/kube-proxy
)
echo "building ${pkgs[*]}"
tmp="$(mktemp -d "${OUT}/.build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${ldflags}" -o "${tmp}/" "${pkgs[@]}"
# go names a binary after its package path, dropping a /vN suffix.
mv "${tmp}/server" "${OUT}/etcd"
for b in kubectl kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  mv "${tmp}/${b}" "${OUT}/${b}"
done
"${OUT}/kube-apiserver" --version
