#!/usr/bin/env bash
# Extract the sample files shipped in the pydicom wheel (PyPI) into
# test-data/pydicom/: JPEG, JPEG-LS, JPEG 2000, RLE, deflate, big endian,
# multi-frame, files without preamble or meta, and some broken ones.
# Idempotent; only PyPI is contacted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/pydicom"
version="${PYDICOM_VERSION:-3.0.2}"
if [ -f "$here/.pydicom.version" ] && [ "$(cat "$here/.pydicom.version")" = "$version" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# pip from the project's test environment when it is there (Debian's own
# python3 may come without pip).
venv_python="${FILMLESS_TEST_ENV:-$HOME/.cache/filmless-test}/venv/bin/python"
python=python3
[ -x "$venv_python" ] && python="$venv_python"
"$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "pydicom==$version"
python3 - "$tmp" "$dest.partial" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "pydicom-*.whl"))[0]
prefix = "pydicom/data/test_files/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(dest, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(z.read(name))
PY
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "$version" > "$here/.pydicom.version"
echo "pydicom $version samples in $dest ($(find "$dest" -type f | wc -l) files)"
