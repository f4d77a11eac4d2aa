#!/usr/bin/env bash
# Fetch the panel's chart library, Jalali date picker and Persian font from the npm registry (pinned versions)
# into the folder given (api/panel/static/vendor). Used by `make setup` and the Dockerfile.
set -euo pipefail
CHARTIST=chartist@1.5.0
VAZIRMATN=vazirmatn@33.0.3
JDP=@majidh1/jalalidatepicker@0.9.12
dest=$(realpath -m "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v npm >/dev/null || { echo "npm is needed to fetch the panel's chart and font" >&2; exit 1; }
mkdir -p "$dest"
cd "$work"
npm pack --silent "$CHARTIST" "$VAZIRMATN" "$JDP" >/dev/null
mkdir chartist vazirmatn jdp
tar -xzf chartist-*.tgz -C chartist
tar -xzf vazirmatn-*.tgz -C vazirmatn
tar -xzf majidh1-jalalidatepicker-*.tgz -C jdp
cp chartist/package/dist/index.umd.js "$dest/chartist.umd.js"
cp chartist/package/dist/index.css "$dest/chartist.css"
cp chartist/package/LICENSE-MIT "$dest/chartist.LICENSE"
cp vazirmatn/package/fonts/webfonts/Vazirmatn-Regular.woff2 \
   vazirmatn/package/fonts/webfonts/Vazirmatn-Bold.woff2 "$dest/"
cp vazirmatn/package/OFL.txt "$dest/Vazirmatn.LICENSE"
cp jdp/package/dist/jalalidatepicker.min.js "$dest/jalalidatepicker.js"
cp jdp/package/dist/jalalidatepicker.min.css "$dest/jalalidatepicker.css"
cp jdp/package/LICENSE "$dest/jalalidatepicker.LICENSE"
