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

build() {
  local out="$1" pkg="$2"
  echo "building ${out} (${pkg})"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${ldflags}" -o "${OUT}/${out}" "${pkg}"
}

build etcd go.etcd.io/etcd/server/v3
build kubectl k8s.io/kubernetes/cmd/kubectl
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kubelet k8s.io/kubernetes/cmd/kubelet
build kube-proxy k8s.io/kubernetes/cmd/kube-proxy
"${OUT}/kube-apiserver" --version
