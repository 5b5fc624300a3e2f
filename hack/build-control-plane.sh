#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok)
# from Go modules into a version-keyed cache outside the repository; a no-op when the binaries already exist.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/snyk-broker-operator/control-plane"
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
BIN_DIR="${CACHE_ROOT}/${KEY}/bin"
WANTED=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

if [[ "${1:-}" == "--print-bin-dir" ]]; then
  echo "$BIN_DIR"
  exit 0
fi

missing=()
for b in "${WANTED[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "$BIN_DIR"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build the control plane" >&2; exit 1; }
# The k8s and etcd modules are built with the machine's Go; never let go download another toolchain.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
WORK="${CACHE_ROOT}/${KEY}/work"
mkdir -p "$BIN_DIR" "$WORK"
# Two callers at once (make test and a test fixture, two checkouts) build once: the second waits here, then builds
# only what is still missing, so neither moves the other's half-built output.
exec 9>"${CACHE_ROOT}/${KEY}/.lock"
flock 9
missing=()
for b in "${WANTED[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "$BIN_DIR"
  exit 0
fi
started=$(date +%s)

build_k8s() {
  local dir="$WORK/k8sbin" minor
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  local staging="v0.${K8S_VERSION#v1.}"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init local.invalid/k8sbin >/dev/null 2>&1
  go mod edit -go=1.26.0
  # k8s.io/kubernetes requires every staging module at v0.0.0 and points it at ./staging with a replace, which a
  # consumer ignores; so each staging module is pinned to its published version, derived from the served go.mod.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*|\1|p' "$gomod"); do
    go mod edit -replace="${m}=${m}@${staging}"
  done
  go mod edit -require="k8s.io/kubernetes@${K8S_VERSION}"
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy -e >/dev/null 2>&1 || true
  go get "k8s.io/kubernetes@${K8S_VERSION}" >/dev/null 2>&1 || true
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1"
  ld="$ld -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION}"
  ld="$ld -X k8s.io/component-base/version.gitTreeState=clean"
  # One invocation so the packages the binaries share compile once.
  go build -trimpath -ldflags "$ld" -o "$WORK/out-k8s/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  mv "$WORK"/out-k8s/* "$BIN_DIR/"
}

build_etcd() {
  local dir="$WORK/etcdbin"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  # A module of its own, so minimal version selection never mixes etcd's grpc/otel with Kubernetes'.
  go mod init local.invalid/etcdbin >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null
  go build -trimpath -ldflags "-s -w" -o "$WORK/out-etcd/etcd" go.etcd.io/etcd/server/v3
  mv "$WORK/out-etcd/etcd" "$BIN_DIR/etcd"
}

build_kwok() {
  GOBIN="$WORK/out-kwok" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
  mv "$WORK/out-kwok/kwok" "$BIN_DIR/kwok"
  # kwok's default stage files ship in its module zip; keep the ones the local cluster uses next to the binary.
  local src
  src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@${KWOK_VERSION}/kustomize/stage"
  mkdir -p "$BIN_DIR/../stages"
  cp -f "$src/node/fast/node-initialize.yaml" "$src/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
    "$src/pod/fast/pod-ready.yaml" "$src/pod/fast/pod-complete.yaml" "$src/pod/fast/pod-delete.yaml" \
    "$BIN_DIR/../stages/"
}

for b in "${missing[@]}"; do
  case "$b" in
    etcd) echo ">> building etcd ${ETCD_VERSION}" >&2; (build_etcd) ;;
    kwok) echo ">> building kwok ${KWOK_VERSION}" >&2; (build_kwok) ;;
  esac
done
for b in "${missing[@]}"; do
  case "$b" in
    kube-*|kubectl) echo ">> building Kubernetes ${K8S_VERSION} (several minutes on a cold cache)" >&2; (build_k8s); break ;;
  esac
done
echo ">> control plane built in $(( $(date +%s) - started ))s" >&2
echo "$BIN_DIR"
