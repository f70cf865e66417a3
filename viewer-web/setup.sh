#!/usr/bin/env bash
# Install the OHIF viewer into viewer-web/dist from the npm registry: the
# pinned @ohif/app package ships a built viewer, so nothing is compiled.
# Trims what Filmless never uses (onnxruntime for AI segmentation, the
# microscopy viewer, source maps) and installs our app-config.js.
# Idempotent: does nothing when the pinned version is in place.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version="${OHIF_VERSION:-3.13.2}"
dest="$here/dist"
stamp="$dest/.ohif-version"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ]; then
  cp "$here/app-config.js" "$dest/app-config.js"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "viewer-web/setup.sh: npm is needed to fetch the OHIF viewer (Debian: apt-get install npm)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@ohif/app@$version" >/dev/null)
tar xzf "$tmp"/ohif-app-*.tgz -C "$tmp" package/dist
rm -rf "$tmp/package/dist/ort" "$tmp/package/dist/dicom-microscopy-viewer"
find "$tmp/package/dist" -name '*.map' -delete
cp "$here/app-config.js" "$tmp/package/dist/app-config.js"
echo "$version" > "$tmp/package/dist/.ohif-version"
rm -rf "$dest"
mv "$tmp/package/dist" "$dest"
echo "OHIF viewer $version installed in $dest ($(du -sh "$dest" | cut -f1))"
