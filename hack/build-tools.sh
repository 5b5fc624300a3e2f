#!/usr/bin/env bash
# Builds the tools the deploy tests need (Helm, kubeconform, promtool, and every Go program under hack/tools/*/) from
# Go modules into a version-keyed cache outside the repository; a no-op when the binaries already exist.
#
#   bash hack/build-tools.sh                  build what is missing, print the bin dir
#   bash hack/build-tools.sh --print-bin-dir  print the bin dir only (builds nothing)
#
# Helm is v3, not v4: v3 is what most users' clusters, CI systems and GitOps tools (Argo CD, Flux's helm-controller)
# still run, and a chart (apiVersion v2) that lints and renders with v3 renders the same with v4; v4 also builds here
# (see /work/shared/reference/ecosystem-tools.md), so a later switch is a one-line change of HELM_MODULE/VERSION.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
HELM_MODULE="helm.sh/helm/v3"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.8.0}"
# Prometheus's promtool, for `promtool check rules` / `test rules` on deploy/monitoring/rules.yaml. Prometheus 3.x is
# published as Go module versions v0.3MM.P (v0.316.0 is Prometheus 3.16.0). Built with the tag remove_all_sd, which
# leaves out the service discoveries of the cloud providers (AWS, Azure, GCE, ...): the rule commands do not use
# them, and without them a cold build takes about half the time (4m37s instead of 7m26s measured on a busy 2-core
# machine; 243 instead of 576 CPU-seconds).
PROMTOOL_VERSION="${PROMTOOL_VERSION:-v0.316.0}"
PROMETHEUS_MODULE="github.com/prometheus/prometheus"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_TOOLS_DIR="$REPO/hack/tools"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/snyk-broker-operator/tools"

# The project's own Go programs: hack/tools/NAME/ with a main.go and a go.mod; the binary is called NAME.
local_tools=()
if [[ -d "$LOCAL_TOOLS_DIR" ]]; then
  for dir in "$LOCAL_TOOLS_DIR"/*/; do
    dir="${dir%/}"
    [[ -f "$dir/main.go" && -f "$dir/go.mod" ]] && local_tools+=("$(basename "$dir")")
  done
fi

# A hash of those programs' files (their paths and contents), so editing one builds into a new directory. A binary
# left by a plain `go build` inside the directory (a file named like the directory) is not part of the source.
local_hash() {
  local name
  for name in "${local_tools[@]}"; do
    (cd "$LOCAL_TOOLS_DIR" && find "$name" -type f ! -path "$name/$name" -print0 | LC_ALL=C sort -z |
      xargs -0 -r sha256sum)
  done | sha256sum | cut -c1-12
}

KEY="helm-${HELM_VERSION}_kubeconform-${KUBECONFORM_VERSION}_promtool-${PROMTOOL_VERSION}_local-$(local_hash)"
BIN_DIR="${CACHE_ROOT}/${KEY}/bin"
WANTED=(helm kubeconform promtool "${local_tools[@]}")

if [[ "${1:-}" == "--print-bin-dir" ]]; then
  echo "$BIN_DIR"
  exit 0
fi

all_present() {
  local b
  for b in "${WANTED[@]}"; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
}
if all_present; then
  echo "$BIN_DIR"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build the tools (Go 1.26)" >&2; exit 1; }
# Built with the machine's Go; never let go download another toolchain.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
WORK="${CACHE_ROOT}/${KEY}/work"
mkdir -p "$BIN_DIR" "$WORK"
# Two test runs starting at once build once: the second waits here, then finds the binaries.
exec 9>"${CACHE_ROOT}/${KEY}/.lock"
flock 9
if all_present; then
  echo "$BIN_DIR"
  exit 0
fi
started=$(date +%s)

build_helm() {
  # Helm's own Makefile stamps its version and the Kubernetes version it was built against (the default of
  # .Capabilities.KubeVersion in `helm template`, and what `helm lint` checks deprecations for); without these
  # flags helm reports v1.20. The Kubernetes minor comes from the client-go that Helm's go.mod requires.
  local gomod client_go minor ld
  gomod=$(go mod download -json "${HELM_MODULE}@${HELM_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  client_go=$(sed -n 's|^[[:space:]]*k8s.io/client-go v0\.\([0-9]*\)\..*|\1|p' "$gomod" | head -n1)
  minor="${client_go:?cannot read the client-go version from ${gomod}}"
  ld="-s -w -X ${HELM_MODULE}/internal/version.version=${HELM_VERSION}"
  ld="$ld -X ${HELM_MODULE}/internal/version.gitTreeState=clean -X ${HELM_MODULE}/internal/version.metadata="
  ld="$ld -X ${HELM_MODULE}/pkg/lint/rules.k8sVersionMajor=1 -X ${HELM_MODULE}/pkg/lint/rules.k8sVersionMinor=${minor}"
  ld="$ld -X ${HELM_MODULE}/pkg/chartutil.k8sVersionMajor=1 -X ${HELM_MODULE}/pkg/chartutil.k8sVersionMinor=${minor}"
  GOBIN="$WORK/out-helm" go install -trimpath -ldflags "$ld" "${HELM_MODULE}/cmd/helm@${HELM_VERSION}"
  mv "$WORK/out-helm/helm" "$BIN_DIR/helm"
}

build_kubeconform() {
  GOBIN="$WORK/out-kubeconform" go install -trimpath -ldflags "-s -w -X main.version=${KUBECONFORM_VERSION}" \
    "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
  mv "$WORK/out-kubeconform/kubeconform" "$BIN_DIR/kubeconform"
}

build_promtool() {
  # Stamped as Prometheus's own build stamps it (promu), so `promtool --version` says which release it is.
  local minor="${PROMTOOL_VERSION#v0.}" release ld
  minor="${minor%%.*}"
  release="${minor:0:1}.$((10#${minor:1})).${PROMTOOL_VERSION##*.}"
  ld="-s -w -X github.com/prometheus/common/version.Version=${release}"
  ld="$ld -X github.com/prometheus/common/version.Branch=HEAD"
  ld="$ld -X github.com/prometheus/common/version.Revision=${PROMTOOL_VERSION}"
  GOBIN="$WORK/out-promtool" go install -trimpath -tags remove_all_sd -ldflags "$ld" \
    "${PROMETHEUS_MODULE}/cmd/promtool@${PROMTOOL_VERSION}"
  mv "$WORK/out-promtool/promtool" "$BIN_DIR/promtool"
}

build_local() {
  # Built from a copy: with -mod=mod, go may add missing go.sum lines, which must not touch the checkout.
  local name="$1" src="$WORK/src/$1"
  rm -rf "$src" && mkdir -p "$src"
  cp -a "$LOCAL_TOOLS_DIR/$name/." "$src/" && rm -f "$src/$name"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$WORK/out-local/$name" .)
  mv "$WORK/out-local/$name" "$BIN_DIR/$name"
}

# Helm, kubeconform and promtool depend on their versions only: when an edit of hack/tools/ (or another tool's
# version) changes the key, take them from a directory whose key has the same version of that tool (a hard link, no
# copy) instead of building them again.
reuse() {
  local other version
  case "$1" in
    helm) version="$HELM_VERSION" ;;
    kubeconform) version="$KUBECONFORM_VERSION" ;;
    promtool) version="$PROMTOOL_VERSION" ;;
  esac
  for other in "${CACHE_ROOT}"/*"$1-${version}_"*/bin/"$1"; do
    [[ -x "$other" && "$other" != "$BIN_DIR/$1" ]] || continue
    ln -f "$other" "$BIN_DIR/$1" 2>/dev/null || cp -f "$other" "$BIN_DIR/$1"
    echo ">> $1: the same version from ${other%/bin/*}" >&2
    return 0
  done
  return 1
}

for b in "${WANTED[@]}"; do
  [[ -x "$BIN_DIR/$b" ]] && continue
  [[ "$b" == helm || "$b" == kubeconform || "$b" == promtool ]] && reuse "$b" && continue
  case "$b" in
    helm) echo ">> building Helm ${HELM_VERSION} (about 2 minutes on a cold cache)" >&2; (build_helm) ;;
    kubeconform) echo ">> building kubeconform ${KUBECONFORM_VERSION}" >&2; (build_kubeconform) ;;
    promtool) echo ">> building promtool ${PROMTOOL_VERSION} (2 to 5 minutes on a cold cache)" >&2; (build_promtool) ;;
    *) echo ">> building hack/tools/$b" >&2; (build_local "$b") ;;
  esac
done
rm -rf "$WORK"
echo ">> tools built in $(( $(date +%s) - started ))s" >&2
echo "$BIN_DIR"
