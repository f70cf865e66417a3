"""A storage SCP that writes the SOP Instance UID of every C-STORE it
receives, one a line, to --out (duplicates included), and exits once
--count have arrived (or after --timeout seconds). The routing tests use it
to see that every instance arrived exactly once."""

import argparse
import json
import sys
import threading
import time

import pynetdicom_race  # noqa: F401  (closes a race in pynetdicom; see there)
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--aet", default="COUNTER")
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--refuse", action="append", default=[],
                   help="answer 0122H (SOP class not supported) for this SOP Instance UID")
    args = p.parse_args()
    lock = threading.Lock()
    seen = [0]
    out = open(args.out, "a")

    def on_store(event):
        uid = str(event.request.AffectedSOPInstanceUID)
        with lock:
            seen[0] += 1
            if uid in args.refuse:
                return 0x0122
            out.write(uid + "\n")
            out.flush()
        return 0x0000

    ae = AE(ae_title=args.aet)
    ae.maximum_associations = 32
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    server = ae.start_server(("127.0.0.1", args.port), block=False,
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        with lock:
            if seen[0] >= args.count:
                break
        time.sleep(0.1)
    # Late duplicates would show up here.
    time.sleep(2)
    server.shutdown()
    out.close()
    print(json.dumps({"received": seen[0]}))
    return 0 if seen[0] >= args.count else 1


if __name__ == "__main__":
    sys.exit(main())
