"""pynetdicom as a peer of the Filmless server, for tests/dimse_pynetdicom.rs.

Each subcommand does one thing against the server and prints one JSON
object with what it saw; the Rust test decides what is right.
"""

import argparse
import json
import os
import sys
import threading
import time

from pydicom import dcmread
import pynetdicom_race  # noqa: F401  (closes a race in pynetdicom; see there)
from pynetdicom import AE, evt, StoragePresentationContexts, build_role
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pydicom.dataset import Dataset


def ae(title):
    a = AE(ae_title=title)
    a.acse_timeout = 120
    a.dimse_timeout = 300
    a.network_timeout = 300
    return a


def concurrent_store(args):
    files = sorted(os.path.join(args.dir, f) for f in os.listdir(args.dir))
    shares = [files[i :: args.n] for i in range(args.n)]
    results = [None] * args.n
    barrier = threading.Barrier(args.n)

    def worker(k):
        ok = 0
        statuses = []
        established = False
        error = None
        try:
            a = ae("PYSTORE%d" % k)
            a.requested_contexts = StoragePresentationContexts[:100]
            assoc = a.associate("127.0.0.1", args.port, ae_title=args.called)
            established = assoc.is_established
        except Exception as e:  # reported, not fatal: the test reads it
            error = repr(e)
        # Everyone meets here, established or not, so nobody waits forever.
        try:
            barrier.wait(timeout=300)
        except threading.BrokenBarrierError:
            pass
        try:
            if established:
                for f in shares[k]:
                    st = assoc.send_c_store(dcmread(f))
                    code = getattr(st, "Status", None)
                    statuses.append(code)
                    if code == 0:
                        ok += 1
                assoc.release()
        except Exception as e:
            error = repr(e)
        results[k] = {"established": established, "stored": ok, "error": error,
                      "statuses": sorted(set(s for s in statuses if s is not None))}

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"workers": results}))


def cancel_find(args):
    a = ae("PYFIND")
    a.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = a.associate("127.0.0.1", args.port, ae_title=args.called)
    assert assoc.is_established, "association refused"
    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    ds.StudyInstanceUID = args.study
    ds.SOPInstanceUID = ""
    pending = 0
    final = None
    for status, identifier in assoc.send_c_find(ds, StudyRootQueryRetrieveInformationModelFind, msg_id=7):
        if status is None:
            break
        if status.Status in (0xFF00, 0xFF01):
            pending += 1
            if pending == 1:
                assoc.send_c_cancel(7, query_model=StudyRootQueryRetrieveInformationModelFind)
        else:
            final = status.Status
    # The association is still usable after a cancel.
    ds2 = Dataset()
    ds2.QueryRetrieveLevel = "STUDY"
    ds2.StudyInstanceUID = args.study
    after = [s.Status for s, _ in assoc.send_c_find(ds2, StudyRootQueryRetrieveInformationModelFind) if s is not None]
    assoc.release()
    print(json.dumps({"pending": pending, "final": final, "after": after}))


def cancel_move(args):
    received = []

    def on_store(event):
        received.append(event.request.AffectedSOPInstanceUID)
        time.sleep(0.01)
        return 0x0000

    scp = ae(args.dest)
    scp.supported_contexts = StoragePresentationContexts
    server = scp.start_server(("127.0.0.1", args.dest_port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        a = ae("PYMOVE")
        a.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = a.associate("127.0.0.1", args.port, ae_title=args.called)
        assert assoc.is_established, "association refused"
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = args.study
        pending = 0
        final = None
        completed = None
        for status, identifier in assoc.send_c_move(ds, args.dest, StudyRootQueryRetrieveInformationModelMove, msg_id=9):
            if status is None:
                break
            if status.Status == 0xFF00:
                pending += 1
                if pending == 1:
                    assoc.send_c_cancel(9, query_model=StudyRootQueryRetrieveInformationModelMove)
            else:
                final = status.Status
                completed = getattr(status, "NumberOfCompletedSuboperations", None)
        assoc.release()
    finally:
        server.shutdown()
    print(json.dumps({"pending": pending, "final": final, "completed": completed, "received": len(received)}))


def get(args):
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet, CTImageStorage
    received = []

    def on_store(event):
        received.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    a = ae("PYGET")
    a.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    a.add_requested_context(CTImageStorage)
    role = build_role(CTImageStorage, scp_role=True)
    assoc = a.associate("127.0.0.1", args.port, ae_title=args.called, ext_neg=[role], evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert assoc.is_established, "association refused"
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = args.study
    final = None
    completed = None
    for status, identifier in assoc.send_c_get(ds, StudyRootQueryRetrieveInformationModelGet):
        if status is not None and status.Status not in (0xFF00, 0xFF01):
            final = status.Status
            completed = getattr(status, "NumberOfCompletedSuboperations", None)
    assoc.release()
    print(json.dumps({"final": final, "completed": completed, "received": len(set(received))}))


def limits(args):
    held = []
    for k in range(args.n):
        a = ae("PYHOLD%d" % k)
        a.add_requested_context(Verification)
        assoc = a.associate("127.0.0.1", args.port, ae_title=args.called)
        held.append((assoc, assoc.is_established))
    # The extra association: refused. pynetdicom now and then reports a
    # refusal that came at once as a local abort (its state machine, under
    # load), neither established nor rejected: asked again then, at most
    # three times, and the outcomes are reported.
    outcomes = []
    for _ in range(3):
        a = ae("PYEXTRA")
        a.add_requested_context(Verification)
        extra = a.associate("127.0.0.1", args.port, ae_title=args.called)
        if extra.is_established:
            outcomes.append("established")
        elif extra.is_rejected:
            outcomes.append("rejected")
        else:
            outcomes.append("aborted" if extra.is_aborted else "neither")
        if extra.is_established or extra.is_rejected:
            break
        time.sleep(0.2)
    extra_established = extra.is_established
    rejection = None
    if extra.is_rejected:
        p = extra.acceptor.primitive
        rejection = {"result": int(p.result), "source": int(p.result_source), "reason": int(p.diagnostic)}
    established = [e for _, e in held]
    for h, e in held:
        if e:
            h.release()
    time.sleep(0.5)
    a = ae("PYAFTER")
    a.add_requested_context(Verification)
    after = a.associate("127.0.0.1", args.port, ae_title=args.called)
    echo = None
    if after.is_established:
        echo = after.send_c_echo().Status
        after.release()
    print(json.dumps({"held": established, "extra_established": extra_established, "rejection": rejection,
                      "extra_outcomes": outcomes, "echo_after": echo}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--called", default="FILMLESS")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("concurrent-store")
    s.add_argument("--dir", required=True)
    s.add_argument("--n", type=int, default=8)
    s = sub.add_parser("cancel-find")
    s.add_argument("--study", required=True)
    s = sub.add_parser("cancel-move")
    s.add_argument("--study", required=True)
    s.add_argument("--dest", required=True)
    s.add_argument("--dest-port", type=int, required=True)
    s = sub.add_parser("get")
    s.add_argument("--study", required=True)
    s = sub.add_parser("limits")
    s.add_argument("--n", type=int, required=True)
    args = p.parse_args()
    {"concurrent-store": concurrent_store, "cancel-find": cancel_find, "cancel-move": cancel_move, "get": get, "limits": limits}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
