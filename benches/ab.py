"""C-STORE ingest of two Filmless binaries, alternated in one session.

    $venv/bin/python benches/ab.py OLD_BINARY NEW_BINARY [--reps N]

The machine's speed drifts between days (and between minutes on a shared
host), so a regression is judged by running both builds on the same corpus,
one after the other, in turns (old, new, new, old, ...), 1 association and
4 concurrent, zstd at rest, the same storescu and corpus as benches/run;
after the 4-association ingest, WADO-RS of one frame (median of 40
requests). Prints each run and the medians. Build the old binary from a worktree:
`git worktree add /tmp/old COMMIT && cd /tmp/old && cargo build --release
--bin filmless`.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import system as S  # noqa: E402


def start(binary, work):
    d = os.path.join(work, "filmless")
    os.makedirs(d, exist_ok=True)
    dp, hp = S.free_port(), S.free_port()
    env = dict(S.ENV, FILMLESS_STORAGE__COMPRESSION="zstd", FILMLESS_DICOM__UNKNOWN_PEERS="all",
               FILMLESS_LOG__LEVEL="warn", FILMLESS_HTTP__VIEWER_DIR="/nonexistent")
    return S.Server("filmless", "FILMLESS", [binary, "serve", "--data-dir", d, "--dicom-bind", f"127.0.0.1:{dp}",
                    "--http-bind", f"127.0.0.1:{hp}"], dp, hp, env=env, cwd=d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--slices", type=int, default=500)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="filmless-ab-")
    try:
        gen = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(S.ROOT, "target")), "release", "filmless-gen")
        corpus = os.path.join(work, "corpus")
        subprocess.run([gen, "--out", os.path.join(corpus, "ct"), "--ct-series", str(args.slices), "--seed", "5"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([gen, "--out", os.path.join(corpus, "xr"), "--studies", "4", "--first", "1", "--seed", "6",
                        "--ct-slices", "1"], check=True, stdout=subprocess.DEVNULL)
        S.settle()
        files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(corpus) for f in fs)
        n = len(files)
        shares = {"1": [files], "4": [files[i::4] for i in range(4)]}
        binaries = [("old", args.old), ("new", args.new)]
        res = {(k, a): [] for k, _ in binaries for a in list(shares) + ["frame"]}
        study = os.listdir(os.path.join(corpus, "ct"))[0]
        series = os.listdir(os.path.join(corpus, "ct", study))[0]
        series_path = f"/dicom-web/studies/{study}/series/{series}"
        frame_type = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*"

        def frame_ms(s):
            instances = json.loads(S.http_get(s.http_port, series_path + "/instances"))
            sop = instances[len(instances) // 2]["00080018"]["Value"][0]
            path = f"{series_path}/instances/{sop}/frames/1"
            S.http_get(s.http_port, path, frame_type)
            return statistics.median(S.timed(lambda: S.http_get(s.http_port, path, frame_type)) * 1000
                                     for _ in range(40))
        for rep in range(args.reps):
            for k, binary in binaries if rep % 2 == 0 else binaries[::-1]:
                for a, share in shares.items():
                    w = os.path.join(work, f"run-{k}-{a}-{rep}")
                    s = start(binary, w)
                    try:
                        res[(k, a)].append(n / S.ingest(s, share))
                        if a == "4":
                            res[(k, "frame")].append(frame_ms(s))
                            print(f"{k} one frame: {res[(k, 'frame')][-1]:.2f} ms", flush=True)
                    finally:
                        s.stop()
                        S.settle(w)
                    print(f"{k} {a} association(s): {res[(k, a)][-1]:.0f} instances/s", flush=True)
        for a in shares:
            old, new = statistics.median(res[("old", a)]), statistics.median(res[("new", a)])
            print(f"{a} association(s), {n} instances: old {old:.0f}, new {new:.0f} instances/s (median of {args.reps}), "
                  f"new/old {new / old:.2f}")
        old, new = statistics.median(res[("old", "frame")]), statistics.median(res[("new", "frame")])
        print(f"WADO-RS one frame: old {old:.2f}, new {new:.2f} ms (median of {args.reps}), old/new {old / new:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
