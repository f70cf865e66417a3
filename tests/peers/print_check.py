"""Check a printed film sheet (a Secondary Capture Filmless filed) against
the images that were printed, for tests/print.rs.

    print_check.py SHEET.dcm --columns C --rows R --sources DIR

Cell k of a STANDARD\\C,R film holds DIR/source-k.png, scaled to fit the
cell (keeping its aspect) and centred, as a printer lays it out. Each cell
is compared with every source at that size: the right source must be the
closest, and within a small mean difference. Prints JSON.
"""

import argparse
import json
import os

from PIL import Image, ImageChops, ImageStat
from pydicom import dcmread


def main():
    p = argparse.ArgumentParser()
    p.add_argument("sheet")
    p.add_argument("--columns", type=int, required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--sources", required=True)
    args = p.parse_args()
    ds = dcmread(args.sheet)
    mode = "RGB" if ds.SamplesPerPixel == 3 else "L"
    w, h = ds.Columns, ds.Rows
    sheet = Image.frombytes(mode, (w, h), ds.PixelData[: w * h * len(mode)])
    n = args.columns * args.rows
    sources = [Image.open(os.path.join(args.sources, f"source-{k}.png")).convert(mode) for k in range(1, n + 1)]
    cells = []
    ok = True
    for k in range(n):
        r, c = divmod(k, args.columns)
        x0, x1 = w * c // args.columns, w * (c + 1) // args.columns
        y0, y1 = h * r // args.rows, h * (r + 1) // args.rows
        cw, ch = x1 - x0, y1 - y0
        sw, sh = sources[k].size
        scale = min(cw / sw, ch / sh)
        tw, th = max(1, int(sw * scale)), max(1, int(sh * scale))
        dx, dy = x0 + (cw - tw) // 2, y0 + (ch - th) // 2
        # Leave the edges out: resampling differs most there.
        mx, my = max(2, tw // 20), max(2, th // 20)
        region = sheet.crop((dx + mx, dy + my, dx + tw - mx, dy + th - my))
        diffs = []
        for s in sources:
            want = s.resize((tw, th), Image.BILINEAR).crop((mx, my, tw - mx, th - my))
            diffs.append(sum(ImageStat.Stat(ImageChops.difference(region, want)).mean) / len(mode))
        best = min(range(n), key=lambda i: diffs[i])
        good = best == k and diffs[k] < 10
        ok = ok and good
        cells.append({"cell": k + 1, "best": best + 1, "difference": round(diffs[k], 2)})
    print(json.dumps({"ok": ok, "size": [w, h], "cells": cells}))


if __name__ == "__main__":
    main()
