#!/usr/bin/env bash
# Installs the pinned Snyk Broker (npm package snyk-broker: the broker server and client in one CLI) that the
# end-to-end tests run, from the npm registry only (`npm ci` against hack/snyk-broker/package-lock.json), into a
# version-keyed cache outside the repository; a no-op when it is already there.
#
#   bash hack/build-broker.sh                  install what is missing, print the install dir
#   bash hack/build-broker.sh --print-dir      print the install dir only (installs nothing)
#
# The install dir holds node_modules/.bin/broker, the config.default.json the broker looks for in a folder above
# node_modules (the package ships none; it names the workload modules that relay requests), and loopback.js, preloaded
# into every broker process so that its listeners bind 127.0.0.1 only.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$REPO/hack/snyk-broker"
VERSION="$(sed -n 's/.*"snyk-broker": "\([^"]*\)".*/\1/p' "$SRC/package.json")"
HASH="$(cd "$SRC" && cat package.json package-lock.json config.default.json loopback.js | sha256sum | cut -c1-12)"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/snyk-broker-operator/snyk-broker"
DIR="$CACHE_ROOT/snyk-broker-${VERSION}_${HASH}"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$DIR"
  exit 0
fi
if [[ -x "$DIR/node_modules/.bin/broker" && -f "$DIR/.complete" ]]; then
  echo "$DIR"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is required to install the Snyk Broker for the end-to-end tests (Node.js 20+)" >&2; exit 1; }
WORK="$DIR.partial.$$"
trap 'rm -rf "$WORK"' EXIT
rm -rf "$WORK" && mkdir -p "$WORK"
cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/config.default.json" "$SRC/loopback.js" "$WORK/"
# No install scripts: the broker needs none (two optional native extras, dtrace-provider and protobufjs' postinstall,
# are not used by the broker's server or client).
(cd "$WORK" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
touch "$WORK/.complete"
rm -rf "$DIR"
mv "$WORK" "$DIR"
trap - EXIT
echo "$DIR"
