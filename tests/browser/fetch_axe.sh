#!/usr/bin/env bash
# Fetch axe-core (pinned) from the npm registry for the browser tests' accessibility check
# into the file given (var/test-assets/axe.min.js). Used by `make test`; never served by the app.
set -euo pipefail
AXE=axe-core@4.14.1
dest=$(realpath -m "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v npm >/dev/null || { echo "npm is needed to fetch axe-core for the browser tests" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
cd "$work"
npm pack --silent "$AXE" >/dev/null
tar -xzf axe-core-*.tgz
cp package/axe.min.js "$dest"
