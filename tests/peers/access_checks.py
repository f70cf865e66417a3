"""pynetdicom as every kind of DICOM peer, for the access matrix of
tests/access_matrix.rs: for each identity (a calling and a called AE
title), try every DIMSE service Filmless serves and report what came back.

    access_checks.py --port P --dest-port D --study UID \
        NAME:CALLING:CALLED:DEST:FILE ...

Each identity: C-ECHO, C-STORE of FILE, C-FIND of the study (Study Root),
C-MOVE of it to DEST (a storage SCP this script runs on D, answering any
AE title), C-GET of it, a Modality Worklist C-FIND (items of the study),
an MPPS N-CREATE, a storage commitment N-ACTION for FILE (its report
taken on the same association), and a print: a Basic Film Session
N-CREATE, then (when allowed) a 1×1 film naming FILE, printed. The result is one JSON object per
identity: the final status of each service (None: association refused),
matches found, instances moved and got, worklist items found. The Rust
test decides what is right.
"""

import argparse
import json
import threading
import time

from pydicom import dcmread
from pydicom.dataset import Dataset
import pynetdicom_race  # noqa: F401  (closes a race in pynetdicom; see there)
from pynetdicom import AE, build_role, evt, StoragePresentationContexts
from pydicom.uid import generate_uid
from pynetdicom.sop_class import (
    BasicFilmBox,
    BasicFilmSession,
    BasicGrayscaleImageBox,
    BasicGrayscalePrintManagementMeta,
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    StorageCommitmentPushModel,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)


def ae(title):
    a = AE(ae_title=title)
    a.acse_timeout = 30
    a.dimse_timeout = 60
    a.network_timeout = 60
    return a


def query(study):
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study
    return ds


def run_identity(args, calling, called, dest, file, moved):
    out = {}
    instance = dcmread(file)
    sop_class = instance.SOPClassUID
    a = ae(calling)
    a.add_requested_context(Verification)
    a.add_requested_context(sop_class)
    for model in (
        StudyRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelMove,
        StudyRootQueryRetrieveInformationModelGet,
        ModalityWorklistInformationFind,
        ModalityPerformedProcedureStep,
        StorageCommitmentPushModel,
        BasicGrayscalePrintManagementMeta,
    ):
        a.add_requested_context(model)
    got = []
    reports = []

    def on_report(event):
        reports.append(event.request.EventTypeID)
        return 0x0000, None

    def on_store(event):
        got.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    # Both roles: this peer sends C-STOREs and receives C-GET sub-operations.
    role = build_role(sop_class, scu_role=True, scp_role=True)
    assoc = a.associate(
        "127.0.0.1",
        args.port,
        ae_title=called,
        ext_neg=[role],
        evt_handlers=[(evt.EVT_C_STORE, on_store), (evt.EVT_N_EVENT_REPORT, on_report)],
    )
    out["associated"] = assoc.is_established
    if not assoc.is_established:
        return out
    st = assoc.send_c_echo()
    out["echo"] = getattr(st, "Status", None)
    st = assoc.send_c_store(instance)
    out["store"] = getattr(st, "Status", None)
    matches, final = 0, None
    for status, identifier in assoc.send_c_find(query(args.study), StudyRootQueryRetrieveInformationModelFind):
        if status is None:
            break
        if status.Status in (0xFF00, 0xFF01):
            if identifier is not None and identifier.get("StudyInstanceUID") == args.study:
                matches += 1
        else:
            final = status.Status
    out["find"], out["found"] = final, matches
    before = len(moved)
    final, completed = None, None
    for status, _ in assoc.send_c_move(query(args.study), dest, StudyRootQueryRetrieveInformationModelMove):
        if status is None:
            break
        if status.Status not in (0xFF00, 0xFF01):
            final = status.Status
            completed = getattr(status, "NumberOfCompletedSuboperations", None)
    out["move"], out["moved"] = final, len(moved) - before
    final = None
    for status, _ in assoc.send_c_get(query(args.study), StudyRootQueryRetrieveInformationModelGet):
        if status is None:
            break
        if status.Status not in (0xFF00, 0xFF01):
            final = status.Status
    out["get"], out["got"] = final, len(set(got))
    # The worklist: items of the study.
    wl = Dataset()
    wl.StudyInstanceUID = args.study
    wl.PatientName = ""
    step = Dataset()
    step.ScheduledStationAETitle = ""
    wl.ScheduledProcedureStepSequence = [step]
    final, items = None, 0
    for status, identifier in assoc.send_c_find(wl, ModalityWorklistInformationFind):
        if status is None:
            break
        if status.Status in (0xFF00, 0xFF01):
            items += 1
        else:
            final = status.Status
    out["worklist"], out["items"] = final, items
    # MPPS N-CREATE of a step of the study.
    pps = Dataset()
    pps.PerformedProcedureStepStatus = "IN PROGRESS"
    pps.Modality = "CT"
    pps.PerformedProcedureStepID = "1"
    pps.PerformedStationAETitle = calling
    pps.PerformedProcedureStepStartDate = "20261202"
    pps.PerformedProcedureStepStartTime = "103000"
    ssa = Dataset()
    ssa.StudyInstanceUID = args.study
    pps.ScheduledStepAttributesSequence = [ssa]
    status, _ = assoc.send_n_create(pps, ModalityPerformedProcedureStep, generate_uid())
    out["mpps"] = getattr(status, "Status", None)
    # Storage commitment of FILE.
    info = Dataset()
    info.TransactionUID = generate_uid()
    ref = Dataset()
    ref.ReferencedSOPClassUID = sop_class
    ref.ReferencedSOPInstanceUID = instance.SOPInstanceUID
    info.ReferencedSOPSequence = [ref]
    status, _ = assoc.send_n_action(info, 1, StorageCommitmentPushModel, "1.2.840.10008.1.20.1.1")
    out["commit"] = getattr(status, "Status", None)
    if out["commit"] == 0:
        deadline = time.time() + 30
        while not reports and time.time() < deadline:
            time.sleep(0.05)
    out["report"] = reports[0] if reports else None
    # A print: the film session every print starts with.
    meta = BasicGrayscalePrintManagementMeta
    session = Dataset()
    session.NumberOfCopies = 1
    session_uid = generate_uid()
    status, _ = assoc.send_n_create(session, BasicFilmSession, session_uid, meta_uid=meta)
    out["print"] = getattr(status, "Status", None)
    out["printed"] = None
    if out["print"] == 0:
        film = Dataset()
        film.ImageDisplayFormat = "STANDARD\\1,1"
        ref = Dataset()
        ref.ReferencedSOPClassUID = BasicFilmSession
        ref.ReferencedSOPInstanceUID = session_uid
        film.ReferencedFilmSessionSequence = [ref]
        film_uid = generate_uid()
        _, box = assoc.send_n_create(film, BasicFilmBox, film_uid, meta_uid=meta)
        image = Dataset()
        image.ImageBoxPosition = 1
        item = Dataset()
        item.SamplesPerPixel = 1
        item.PhotometricInterpretation = "MONOCHROME2"
        item.Rows = item.Columns = 8
        item.BitsAllocated = item.BitsStored = 8
        item.HighBit = 7
        item.PixelRepresentation = 0
        item.add_new(0x7FE00010, "OB", bytes(range(64)))
        image.BasicGrayscaleImageSequence = [item]
        shown = Dataset()
        shown.ReferencedSOPClassUID = sop_class
        shown.ReferencedSOPInstanceUID = instance.SOPInstanceUID
        image.ReferencedImageSequence = [shown]
        box_uid = box.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID
        assoc.send_n_set(image, BasicGrayscaleImageBox, box_uid, meta_uid=meta)
        status, _ = assoc.send_n_action(None, 1, BasicFilmBox, film_uid, meta_uid=meta)
        out["printed"] = getattr(status, "Status", None)
    assoc.release()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dest-port", type=int, required=True)
    p.add_argument("--study", required=True)
    p.add_argument("identities", nargs="+")
    args = p.parse_args()
    moved = []
    lock = threading.Lock()

    def on_move_store(event):
        with lock:
            moved.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    scp = ae("DEST")
    scp.require_called_aet = False
    scp.supported_contexts = StoragePresentationContexts
    server = scp.start_server(
        ("127.0.0.1", args.dest_port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_move_store)]
    )
    results = {}
    try:
        for spec in args.identities:
            name, calling, called, dest, file = spec.split(":", 4)
            results[name] = run_identity(args, calling, called, dest, file, moved)
    finally:
        server.shutdown()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
