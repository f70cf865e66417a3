"""The modality and the RIS as peers of the Filmless server, for the
worklist / MPPS / storage commitment / HL7 integration tests.

Each subcommand does one thing against the server and prints one JSON
object (the last line of stdout) with what it saw; the Rust test decides
what is right. Problems of the exchange itself (refused association,
connection refused, no answer) are reported in the JSON as "error".
"""

import argparse
import datetime
import json
import os
import socket
import sys
import threading
import time
import traceback

import hl7
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
import pynetdicom_race  # noqa: F401  (closes a race in pynetdicom; see there)
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    StorageCommitmentPushModel,
)

# Well-known SOP Instance UID of the Storage Commitment Push Model.
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"

MLLP_START = b"\x0b"
MLLP_END = b"\x1c\x0d"


def out(obj):
    sys.stdout.flush()
    print(json.dumps(obj, ensure_ascii=False))
    sys.stdout.flush()


def ae(title):
    a = AE(ae_title=title)
    a.acse_timeout = 120
    a.dimse_timeout = 300
    a.network_timeout = 300
    return a


def status_of(st):
    """The Status (int) of a pynetdicom status Dataset, or None."""
    if st is None:
        return None
    code = getattr(st, "Status", None)
    return int(code) if code is not None else None


class CommandSets:
    """The command sets of the messages an association received, as sent
    (pynetdicom's N-CREATE primitive drops Attribute Identifier List)."""

    def __init__(self):
        self.received = []

    def handler(self):
        return (evt.EVT_DIMSE_RECV, lambda event: self.received.append(event.message.command_set))

    def tags(self, tag):
        """The tags the last one lists in `tag` (an AT element), as GGGGEEEE."""
        if not self.received or tag not in self.received[-1]:
            return []
        value = self.received[-1][tag].value
        items = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "__len__") else [value]
        return ["%08X" % int(t) for t in items]

    def named(self):
        return {
            "attribute_identifiers": self.tags(0x00001005),
            "offending_elements": self.tags(0x00000901),
        }


def to_json(ds):
    if ds is None:
        return None
    try:
        return ds.to_json_dict()
    except Exception as e:  # a malformed answer is something to report
        return {"unserializable": repr(e)}


def association_problem(assoc):
    if assoc.is_rejected:
        try:
            p = assoc.acceptor.primitive
            return "association rejected: result=%s source=%s reason=%s" % (
                int(p.result), int(p.result_source), int(p.diagnostic))
        except Exception:
            return "association rejected"
    if assoc.is_aborted:
        return "association aborted"
    return "association not established"


def now_dt():
    n = datetime.datetime.now()
    return n.strftime("%Y%m%d"), n.strftime("%H%M%S")


# --------------------------------------------------------------------- HL7


def hl7_ts():
    return datetime.datetime.now().strftime("%Y%m%d%H%M%S")


def seg(name, fields):
    """One ER7 segment; fields[0] is field 1 (for MSH, MSH-3)."""
    fields = [("" if f is None else str(f)) for f in fields]
    while fields and fields[-1] == "":
        fields.pop()
    if name == "MSH":
        return "MSH|^~\\&" + ("|" + "|".join(fields) if fields else "")
    return name + ("|" + "|".join(fields) if fields else "")


def msh(spec, message_type):
    f = [""] * 16  # MSH-3 .. MSH-18
    f[0] = spec.get("sending_app", "RIS")
    f[1] = spec.get("sending_facility", "BVHD")
    f[2] = spec.get("receiving_app", "FILMLESS")
    f[3] = spec.get("receiving_facility", "FILMLESS")
    f[4] = spec.get("timestamp", hl7_ts())      # MSH-7
    f[6] = message_type                          # MSH-9
    f[7] = spec.get("control_id", "")           # MSH-10
    f[8] = spec.get("processing_id", "P")       # MSH-11
    f[9] = spec.get("version", "2.5.1")         # MSH-12
    f[15] = spec.get("charset", "")             # MSH-18
    return seg("MSH", f)


def cx(pid, issuer):
    if not pid and not issuer:
        return ""
    return "%s^^^%s" % (pid, issuer) if issuer else pid


def pid_segment(spec, id_key="patient_id", issuer_key="issuer"):
    f = [""] * 8  # PID-1 .. PID-8
    f[0] = "1"
    f[2] = cx(spec.get(id_key, ""), spec.get(issuer_key, ""))  # PID-3
    f[4] = spec.get("name", "")         # PID-5
    f[6] = spec.get("birth_date", "")   # PID-7
    f[7] = spec.get("sex", "")          # PID-8
    return seg("PID", f)


def pv1_segment(spec):
    f = [""] * 8
    f[0] = "1"
    f[1] = spec.get("patient_class", "O")
    f[7] = spec.get("referring", "")        # PV1-8 referring doctor
    return seg("PV1", f)


def evn_segment(code):
    return seg("EVN", [code, hl7_ts()])


def build_order(spec):
    """ORM^O01 or OMI^O23: MSH, PID, PV1, then its ORDER groups. One group
    from the spec itself; with "orders" (a list of dicts, each overriding
    the spec's keys for its group: placer, filler, accession, rp_id,
    sps_id, start, use_tq1, zds…) one group per entry, in that order."""
    mtype = spec.get("message_type", "ORM^O01")
    is_omi = mtype.startswith("OMI")
    if is_omi and mtype.count("^") == 1:
        mtype = mtype + "^OMI_O23"
    segments = [msh(spec, mtype), pid_segment(spec), pv1_segment(spec)]
    groups = spec.get("orders") or [{}]
    for n, overrides in enumerate(groups, start=1):
        g = dict(spec)
        g.update(overrides)
        segments.extend(order_group(g, is_omi, n))
    return segments


def order_group(spec, is_omi, set_id):
    """One ORDER group: ORC, TQ1 (unless "use_tq1" is false: then the start
    goes in OBR-27.4), OBR, the IPC segments of OMI, and a ZDS segment
    (ZDS-1 = "zds"^100^Application^DICOM) when "zds" is given. "obr_filler"
    puts another value than "filler" in OBR-3 (empty: ORC-3 alone)."""
    use_tq1 = spec.get("use_tq1", True)
    start = spec.get("start", "")
    code = spec.get("procedure_code", "")
    text = spec.get("procedure_text", "")
    rp_desc = spec.get("rp_description", text)
    universal = "%s^%s^L" % (code, text)
    # OBR-4.4..4.6 (alternate identifier) carries the requested procedure
    # (IHE Rad TF-2 Appendix B); OBR-44 too.
    universal_full = "%s^%s^L^%s^%s^L" % (code, text, code, rp_desc)
    procedure_code = "%s^%s^L" % (code, rp_desc)

    segments = []
    orc = [""] * 12  # ORC-1 .. ORC-12
    orc[0] = spec.get("control", "NW")
    orc[1] = spec.get("placer", "")
    orc[2] = spec.get("filler", "")
    orc[4] = spec.get("order_status", "")
    orc[8] = hl7_ts()                         # ORC-9
    orc[11] = spec.get("requesting", "")      # ORC-12 ordering provider
    segments.append(seg("ORC", orc))

    if use_tq1:
        tq1 = [""] * 7
        tq1[0] = str(set_id)
        tq1[6] = start                          # TQ1-7
        segments.append(seg("TQ1", tq1))

    obr = [""] * 44  # OBR-1 .. OBR-44
    obr[0] = str(set_id)
    obr[1] = spec.get("placer", "")           # OBR-2
    obr[2] = spec.get("obr_filler", spec.get("filler", ""))  # OBR-3
    obr[3] = universal if rp_desc == text else universal_full  # OBR-4
    obr[15] = spec.get("requesting", "")      # OBR-16 ordering provider
    obr[17] = spec.get("accession", "")       # OBR-18
    obr[18] = spec.get("rp_id", "")           # OBR-19
    obr[19] = spec.get("sps_id", "")          # OBR-20
    obr[20] = spec.get("station_aet", "")     # OBR-21
    obr[23] = spec.get("modality", "")        # OBR-24
    if not use_tq1 and start:
        obr[26] = "^^^%s" % start             # OBR-27.4
    obr[33] = spec.get("technician", "")      # OBR-34 (CNN: id&family&given)
    if code:
        obr[43] = procedure_code              # OBR-44
    segments.append(seg("OBR", obr))

    if is_omi and spec.get("ipc", True):
        # One IPC per scheduled step; "ipcs" lists several (each a dict
        # overriding the order's sps_id, modality, station_aet).
        for step in spec.get("ipcs", [{}]):
            s2 = dict(spec)
            s2.update(step)
            ipc = [""] * 9
            ipc[0] = s2.get("accession", "")     # IPC-1
            ipc[1] = s2.get("rp_id", "")         # IPC-2
            ipc[2] = s2.get("study_uid", "")     # IPC-3
            ipc[3] = s2.get("sps_id", "")        # IPC-4
            ipc[4] = s2.get("modality", "")      # IPC-5
            ipc[8] = s2.get("station_aet", "")   # IPC-9
            segments.append(seg("IPC", ipc))
    if spec.get("zds"):
        # IHE Rad TF-2 Appendix B: ZDS-1 the Study Instance UID (RP type).
        segments.append(seg("ZDS", ["%s^100^Application^DICOM" % spec["zds"]]))
    return segments


def build_adt_a08(spec):
    return [msh(spec, "ADT^A08^ADT_A01"), evn_segment("A08"), pid_segment(spec), pv1_segment(spec)]


def build_adt_a31(spec):
    return [msh(spec, "ADT^A31^ADT_A05"), evn_segment("A31"), pid_segment(spec), pv1_segment(spec)]


def build_adt_a40(spec):
    mrg = seg("MRG", [cx(spec.get("merged_patient_id", ""), spec.get("merged_issuer", ""))])
    return [msh(spec, "ADT^A40^ADT_A39"), evn_segment("A40"), pid_segment(spec), mrg]


def build_oru(spec):
    s = dict(spec)
    s.setdefault("patient_id", "P1")
    return [
        msh(s, "ORU^R01^ORU_R01"),
        pid_segment(s),
        seg("OBR", ["1", "", "", "CT001^CT^L"]),
        seg("OBX", ["1", "TX", "CT001^CT^L", "", "report text", "", "", "", "", "", "F"]),
    ]


BUILDERS = {
    "ORM": build_order,
    "ADT_A08": build_adt_a08,
    "ADT_A31": build_adt_a31,
    "ADT_A40": build_adt_a40,
    "UNSUPPORTED": build_oru,
}


def compose(spec):
    """(text to send, control id) for one spec."""
    kind = spec.get("type")
    if kind == "RAW":
        return spec.get("text", ""), spec.get("control_id", "")
    if kind not in BUILDERS:
        raise ValueError("unknown message type %r" % kind)
    text = "\r".join(BUILDERS[kind](spec))
    parsed = hl7.parse(text)  # the hl7 package checks what we composed
    again = str(parsed)
    return (again if again == text else text), spec.get("control_id", "")


def read_frame(sock, buf, timeout):
    """Reads one MLLP frame; returns (payload bytes or None, rest of buffer)."""
    deadline = time.time() + timeout
    while True:
        end = buf.find(MLLP_END)
        if end >= 0:
            frame = buf[:end]
            rest = buf[end + len(MLLP_END):]
            start = frame.find(MLLP_START)
            if start >= 0:
                frame = frame[start + 1:]
            return frame, rest
        left = deadline - time.time()
        if left <= 0:
            raise socket.timeout("no ACK within %ss" % timeout)
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            if buf:
                return buf.lstrip(MLLP_START), b""  # unterminated answer
            raise ConnectionError("connection closed by server")
        buf += chunk


def parse_ack(raw_text):
    """msa1, msa2, err from an ACK, tolerating garbage."""
    text = raw_text.replace("\r\n", "\r").replace("\n", "\r")
    msa1 = msa2 = ""
    errs = []
    try:
        m = hl7.parse(text)
        msa = m.segment("MSA")
        msa1 = str(msa[1]) if len(msa) > 1 else ""
        msa2 = str(msa[2]) if len(msa) > 2 else ""
        for s in m:
            if str(s[0]) == "ERR":
                errs.append(str(s))
        return msa1, msa2, "\r".join(errs)
    except Exception:
        pass
    # Fallback: a line-by-line look for MSA / ERR.
    sep = "|"
    for line in text.split("\r"):
        if line.startswith("MSH") and len(line) > 3:
            sep = line[3]
    for line in text.split("\r"):
        if line.startswith("MSA"):
            parts = line.split(sep)
            msa1 = parts[1] if len(parts) > 1 else ""
            msa2 = parts[2] if len(parts) > 2 else ""
        elif line.startswith("ERR"):
            errs.append(line)
    return msa1, msa2, "\r".join(errs)


def load_specs(arg):
    if arg.lstrip().startswith("["):
        return json.loads(arg)
    with open(arg, encoding="utf-8") as f:
        return json.load(f)


def cmd_hl7(args):
    specs = load_specs(args.messages)
    acks = []
    try:
        sock = socket.create_connection((args.host, args.hl7_port), timeout=30)
        if args.tls:
            import ssl
            context = ssl.create_default_context(cafile=args.tls)
            sock = context.wrap_socket(sock, server_hostname=args.host)
    except Exception as e:
        out({"acks": acks, "error": "connect: %r" % (e,)})
        return 0
    buf = b""
    error = None
    try:
        for spec in specs:
            entry = {"msa1": "", "msa2": "", "err": "", "raw": "", "sent_control_id": ""}
            acks.append(entry)
            try:
                text, cid = compose(spec)
            except Exception as e:
                entry["error"] = "compose: %r" % (e,)
                continue
            entry["sent_control_id"] = cid
            payload = text.encode("utf-8")
            try:
                sock.sendall(MLLP_START + payload + MLLP_END)
                frame, buf = read_frame(sock, buf, args.ack_timeout)
            except Exception as e:
                entry["error"] = "no ACK: %r" % (e,)
                error = entry["error"]
                break  # the connection is unusable past here
            raw = frame.decode("utf-8", errors="replace")
            raw = raw.replace("\r\n", "\r").replace("\n", "\r").rstrip("\r")
            entry["raw"] = raw
            entry["msa1"], entry["msa2"], entry["err"] = parse_ack(raw)
    finally:
        try:
            sock.close()
        except Exception:
            pass
    result = {"acks": acks}
    if error:
        result["error"] = error
    out(result)
    return 0


# --------------------------------------------------------------------- MWL


def cmd_mwl(args):
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = args.name or ""
    ds.PatientID = args.patient_id or ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.AccessionNumber = args.accession or ""
    ds.RequestedProcedureID = args.rp_id or ""
    ds.RequestedProcedureDescription = ""
    ds.StudyInstanceUID = ""
    ds.ReferringPhysicianName = ""
    ds.RequestingPhysician = ""
    ds.ReferencedStudySequence = Sequence([])
    ds.RequestedProcedureCodeSequence = Sequence([])
    sps = Dataset()
    sps.ScheduledStationAETitle = args.station_aet or ""
    sps.Modality = args.modality or ""
    sps.ScheduledProcedureStepStartDate = args.date or ""
    sps.ScheduledProcedureStepStartTime = args.time or ""
    sps.ScheduledProcedureStepDescription = ""
    sps.ScheduledProcedureStepID = ""
    sps.ScheduledPerformingPhysicianName = args.performing or ""
    sps.ScheduledProcedureStepStatus = ""
    ds.ScheduledProcedureStepSequence = Sequence([sps])

    a = ae(args.aet)
    a.add_requested_context(ModalityWorklistInformationFind)
    assoc = a.associate(args.host, args.port, ae_title=args.called)
    if not assoc.is_established:
        out({"status": None, "matches": [], "error": association_problem(assoc)})
        return 0
    matches = []
    final = None
    error = None
    try:
        for status, identifier in assoc.send_c_find(ds, ModalityWorklistInformationFind):
            if status is None or not hasattr(status, "Status"):
                error = "no C-FIND response (timeout or abort)"
                break
            code = int(status.Status)
            if code in (0xFF00, 0xFF01):
                matches.append(to_json(identifier))
            else:
                final = code
    except Exception as e:
        error = repr(e)
    if assoc.is_established:
        assoc.release()
    result = {"status": final, "matches": matches}
    if error:
        result["error"] = error
    out(result)
    return 0


# --------------------------------------------------------------------- MPPS


def cmd_mpps_create(args):
    mpps_uid = args.mpps_uid or generate_uid()
    d, t = now_dt()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = args.name
    ds.PatientID = args.patient_id
    ds.PatientBirthDate = args.birth_date
    ds.PatientSex = args.sex
    ds.ReferencedPatientSequence = Sequence([])
    item = Dataset()
    item.StudyInstanceUID = args.study_uid
    item.ReferencedStudySequence = Sequence([])
    item.AccessionNumber = args.accession
    item.RequestedProcedureID = args.rp_id
    item.RequestedProcedureDescription = args.description
    item.ScheduledProcedureStepID = args.sps_id
    item.ScheduledProcedureStepDescription = args.description
    item.ScheduledProtocolCodeSequence = Sequence([])
    items = [item]
    # More steps performed at once (a grouped procedure): STUDY:SPS each.
    for extra in args.extra_step:
        study, sps_id = extra.split(":", 1)
        more = Dataset()
        more.StudyInstanceUID = study
        more.ReferencedStudySequence = Sequence([])
        more.AccessionNumber = ""
        more.RequestedProcedureID = ""
        more.RequestedProcedureDescription = ""
        more.ScheduledProcedureStepID = sps_id
        more.ScheduledProcedureStepDescription = ""
        more.ScheduledProtocolCodeSequence = Sequence([])
        items.append(more)
    ds.ScheduledStepAttributesSequence = Sequence(items)
    ds.PerformedProcedureStepID = args.pps_id or ("PPS" + t)
    ds.PerformedStationAETitle = args.aet
    ds.PerformedStationName = ""
    ds.PerformedLocation = ""
    ds.PerformedProcedureStepStartDate = d
    ds.PerformedProcedureStepStartTime = t
    if not args.omit_status:
        ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = args.description
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = Sequence([])
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = args.modality
    ds.StudyID = ""
    ds.PerformedProtocolCodeSequence = Sequence([])
    ds.PerformedSeriesSequence = Sequence([])
    for keyword in args.omit:
        delattr(ds, keyword)

    a = ae(args.aet)
    a.add_requested_context(ModalityPerformedProcedureStep)
    commands = CommandSets()
    assoc = a.associate(args.host, args.port, ae_title=args.called, evt_handlers=[commands.handler()])
    if not assoc.is_established:
        out({"status": None, "mpps_uid": mpps_uid, "attribute_list": None,
             "error": association_problem(assoc)})
        return 0
    result = {"status": None, "mpps_uid": mpps_uid, "attribute_list": None}
    try:
        status, attrs = assoc.send_n_create(ds, ModalityPerformedProcedureStep, mpps_uid)
        result["status"] = status_of(status)
        result.update(commands.named())
        if result["status"] is None:
            result["error"] = "no N-CREATE response (timeout or abort)"
        result["attribute_list"] = to_json(attrs)
    except Exception as e:
        result["error"] = repr(e)
    if assoc.is_established:
        assoc.release()
    out(result)
    return 0


def cmd_mpps_set(args):
    d, t = now_dt()
    ds = Dataset()
    ds.PerformedProcedureStepStatus = args.status
    if args.status != "IN PROGRESS" and not args.omit_end:
        ds.PerformedProcedureStepEndDate = d
        ds.PerformedProcedureStepEndTime = t
    if args.series_uid:
        item = Dataset()
        item.PerformingPhysicianName = ""
        item.ProtocolName = args.protocol
        item.OperatorsName = ""
        item.SeriesInstanceUID = args.series_uid
        item.SeriesDescription = ""
        item.RetrieveAETitle = ""
        refs = []
        for uid in [u for u in (args.sop_uids or "").split(",") if u]:
            r = Dataset()
            r.ReferencedSOPClassUID = args.sop_class
            r.ReferencedSOPInstanceUID = uid
            refs.append(r)
        item.ReferencedImageSequence = Sequence(refs)
        item.ReferencedNonImageCompositeSOPInstanceSequence = Sequence([])
        ds.PerformedSeriesSequence = Sequence([item])
    for pair in args.also:
        keyword, value = pair.split("=", 1)
        setattr(ds, keyword, value)

    a = ae(args.aet)
    a.add_requested_context(ModalityPerformedProcedureStep)
    commands = CommandSets()
    assoc = a.associate(args.host, args.port, ae_title=args.called, evt_handlers=[commands.handler()])
    if not assoc.is_established:
        out({"status": None, "error": association_problem(assoc)})
        return 0
    result = {"status": None}
    try:
        status, attrs = assoc.send_n_set(ds, ModalityPerformedProcedureStep, args.mpps_uid)
        result["status"] = status_of(status)
        result.update(commands.named())
        error_id = getattr(status, "ErrorID", None) if status is not None else None
        result["error_id"] = int(error_id) if error_id is not None else None
        if result["status"] is None:
            result["error"] = "no N-SET response (timeout or abort)"
        result["attribute_list"] = to_json(attrs)
    except Exception as e:
        result["error"] = repr(e)
    if assoc.is_established:
        assoc.release()
    out(result)
    return 0


# --------------------------------------------------------------------- store


def dicom_files(d):
    return sorted(
        os.path.join(d, f) for f in os.listdir(d)
        if not f.startswith(".") and os.path.isfile(os.path.join(d, f)))


def cmd_store(args):
    datasets = []
    unreadable = []
    for f in dicom_files(args.dir):
        try:
            datasets.append(dcmread(f))
        except Exception as e:
            unreadable.append({"file": os.path.basename(f), "error": repr(e)})
    syntaxes = {}
    for ds in datasets:
        ts = ds.file_meta.TransferSyntaxUID if "TransferSyntaxUID" in ds.file_meta else ImplicitVRLittleEndian
        syntaxes.setdefault(str(ds.SOPClassUID), set()).add(str(ts))
    a = ae(args.aet)
    for cls, tss in sorted(syntaxes.items())[:128]:
        offered = sorted(tss | {str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian)})
        a.add_requested_context(cls, offered)
    if not syntaxes:
        out({"stored": 0, "statuses": [], "unreadable": unreadable})
        return 0
    assoc = a.associate(args.host, args.port, ae_title=args.called)
    if not assoc.is_established:
        out({"stored": 0, "statuses": [], "unreadable": unreadable, "error": association_problem(assoc)})
        return 0
    statuses = []
    stored = 0
    error = None
    errors = []
    for ds in datasets:
        try:
            st = status_of(assoc.send_c_store(ds))
        except Exception as e:  # e.g. no accepted context for this file
            st = None
            errors.append({"sop_instance_uid": str(ds.SOPInstanceUID), "error": repr(e)})
        statuses.append(st)
        if st == 0:
            stored += 1
        if not assoc.is_established:
            error = error or "association ended during the stores"
            break
    if assoc.is_established:
        assoc.release()
    result = {"stored": stored, "statuses": statuses}
    if unreadable:
        result["unreadable"] = unreadable
    if errors:
        result["errors"] = errors
    if error:
        result["error"] = error
    out(result)
    return 0


# --------------------------------------------------------------------- commit


class Reports:
    """N-EVENT-REPORTs received (on the requesting or on a new association)."""

    def __init__(self):
        self.got = threading.Event()
        self.lock = threading.Lock()
        self.items = []

    def handler(self, where):
        def on_report(event):
            try:
                info = event.event_information
            except Exception:
                info = None
            try:
                calling = event.assoc.requestor.ae_title
                if isinstance(calling, bytes):
                    calling = calling.decode("ascii", "replace")
                calling = calling.strip()
            except Exception:
                calling = None
            with self.lock:
                self.items.append({
                    "where": where,
                    "time": time.time(),
                    "event_type": int(event.request.EventTypeID)
                    if event.request.EventTypeID is not None else None,
                    "class_uid": str(event.request.AffectedSOPClassUID),
                    "instance_uid": str(event.request.AffectedSOPInstanceUID),
                    "info": info,
                    "calling_ae": calling,
                })
            self.got.set()
            return 0x0000, None
        return on_report


def cmd_commit(args):
    refs = []
    unreadable = []
    for f in dicom_files(args.dir):
        try:
            ds = dcmread(f, stop_before_pixels=True)
            refs.append((str(ds.SOPClassUID), str(ds.SOPInstanceUID)))
        except Exception as e:
            unreadable.append({"file": os.path.basename(f), "error": repr(e)})
    for uid in args.extra_uid or []:
        refs.append((str(CTImageStorage), uid))
    # References naming another SOP Class than the instance's own.
    wrong = set(args.wrong_class or [])
    refs = [(args.wrong_class_uid if uid in wrong else cls, uid) for cls, uid in refs]
    transaction_uid = args.transaction_uid or generate_uid()
    req = Dataset()
    req.TransactionUID = transaction_uid
    items = []
    for cls, uid in refs:
        it = Dataset()
        it.ReferencedSOPClassUID = cls
        it.ReferencedSOPInstanceUID = uid
        items.append(it)
    req.ReferencedSOPSequence = Sequence(items)

    reports = Reports()
    result = {"action_status": None, "event_type": None, "transaction_uid": transaction_uid,
              "committed": [], "failed": [], "event_calling_ae": None, "waited_secs": 0.0}
    if unreadable:
        result["unreadable"] = unreadable
    if wrong:
        result["requested"] = [{"uid": uid, "class": cls} for cls, uid in refs]
        missing = sorted(wrong - {uid for _, uid in refs})
        if missing:
            result["error"] = "--wrong-class names no referenced instance: %s" % ", ".join(missing)
            out(result)
            return 0

    server = [None]
    listener_error = [None]

    def start_listener():
        try:
            scp = ae(args.aet)
            # The archive either proposes role selection (SCU=0, SCP=1) or
            # none; scp_role=True accepts it as SCP, scu_role=True as SCU.
            scp.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)
            server[0] = scp.start_server(
                ("127.0.0.1", args.listen_port), block=False,
                evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports.handler("new"))])
        except Exception as e:
            listener_error[0] = repr(e)

    if args.mode == "new" and args.listen_port is None:
        result["error"] = "--listen-port is required with --mode new"
        out(result)
        return 0
    if args.mode == "new" and not args.start_listener_after:
        start_listener()

    a = ae(args.aet)
    a.add_requested_context(StorageCommitmentPushModel)
    # Bound in both modes, so a report on the requesting association is seen
    # (and reported as "where": "same") even in mode new.
    assoc = a.associate(args.host, args.port, ae_title=args.called,
                        evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports.handler("same"))])
    t0 = time.time()
    try:
        if not assoc.is_established:
            result["error"] = association_problem(assoc)
            out(result)
            return 0
        try:
            status, reply = assoc.send_n_action(req, 1, StorageCommitmentPushModel,
                                                STORAGE_COMMITMENT_INSTANCE)
            result["action_status"] = status_of(status)
            if result["action_status"] is None:
                result["error"] = "no N-ACTION response (timeout or abort)"
        except Exception as e:
            result["error"] = repr(e)
        t0 = time.time()
        deadline = t0 + args.timeout
        if args.mode == "same":
            while time.time() < deadline and not reports.got.is_set() and assoc.is_established:
                reports.got.wait(0.1)
            if not reports.got.is_set() and not assoc.is_established:
                result["error"] = result.get("error") or "association ended before the report"
            if assoc.is_established:
                assoc.release()
        else:
            if assoc.is_established:
                assoc.release()
            if args.start_listener_after:
                time.sleep(args.start_listener_after)
                start_listener()
            while time.time() < deadline and not reports.got.is_set():
                reports.got.wait(0.1)
    finally:
        if assoc.is_established:
            assoc.abort()
        if server[0] is not None:
            # Let the archive's association finish its release first.
            time.sleep(0.3)
            server[0].shutdown()

    if listener_error[0]:
        result["listener_error"] = listener_error[0]
    with reports.lock:
        got = list(reports.items)
    if got:
        first = got[0]
        result["waited_secs"] = round(first["time"] - t0, 3)
        result["event_type"] = first["event_type"]
        result["event_calling_ae"] = first["calling_ae"] if first["where"] == "new" else None
        result["event_association"] = first["where"]
        result["event_class_uid"] = first["class_uid"]
        result["event_instance_uid"] = first["instance_uid"]
        info = first["info"]
        if info is not None:
            result["event_transaction_uid"] = str(info.get("TransactionUID", "")) or None
            for it in info.get("ReferencedSOPSequence", []) or []:
                result["committed"].append(str(it.get("ReferencedSOPInstanceUID", "")))
            failed_classes = []
            for it in info.get("FailedSOPSequence", []) or []:
                reason = it.get("FailureReason", None)
                result["failed"].append({"uid": str(it.get("ReferencedSOPInstanceUID", "")),
                                         "reason": int(reason) if reason is not None else None})
                failed_classes.append(str(it.get("ReferencedSOPClassUID", "")))
            # The Referenced SOP Class UID of each failed item, in the order
            # of "failed" (kept apart: "failed" is compared whole).
            result["failed_classes"] = failed_classes
        else:
            result["event_info_error"] = "event information could not be decoded"
        result["reports"] = len(got)
    else:
        result["waited_secs"] = round(time.time() - t0, 3)
    out(result)
    return 0


# ------------------------------------------------------------ MPPS receiver


def cmd_mpps_scp(args):
    """Play the RIS that receives forwarded MPPS: listen, answer each
    N-CREATE and N-SET with success, print what came in order."""
    got = []
    lock = threading.Lock()

    def on_create(event):
        req = event.request
        with lock:
            got.append({"op": "create", "uid": str(req.AffectedSOPInstanceUID),
                        "calling_ae": event.assoc.requestor.ae_title,
                        "data": to_json(event.attribute_list)})
        return 0x0000, event.attribute_list

    def on_set(event):
        req = event.request
        with lock:
            got.append({"op": "set", "uid": str(req.RequestedSOPInstanceUID),
                        "calling_ae": event.assoc.requestor.ae_title,
                        "data": to_json(event.modification_list)})
        return 0x0000, event.modification_list

    if args.start_after:
        time.sleep(args.start_after)
    a = ae(args.aet)
    a.add_supported_context(ModalityPerformedProcedureStep, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    server = a.start_server(("127.0.0.1", args.listen_port), block=False,
                            evt_handlers=[(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)])
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        with lock:
            if len(got) >= args.count:
                break
        time.sleep(0.05)
    time.sleep(0.3)
    server.shutdown()
    with lock:
        out({"received": got})
    return 0


# --------------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description="The modality and the RIS as peers of the Filmless server.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=11112, help="DICOM port of the server")
    p.add_argument("--aet", default="CT1", help="calling AE title")
    p.add_argument("--called", default="FILMLESS")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("hl7", help="send HL7 v2 messages over one MLLP connection")
    s.add_argument("--hl7-port", type=int, required=True)
    s.add_argument("--messages", required=True, help="JSON list of specs: a file, or inline if it starts with '['")
    s.add_argument("--ack-timeout", type=float, default=30.0)
    s.add_argument("--tls", help="MLLP over TLS, trusting this CA certificate (PEM)")

    s = sub.add_parser("mwl", help="Modality Worklist C-FIND")
    s.add_argument("--station-aet")
    s.add_argument("--modality")
    s.add_argument("--date", help="YYYYMMDD or YYYYMMDD-YYYYMMDD")
    s.add_argument("--name")
    s.add_argument("--patient-id")
    s.add_argument("--accession")
    s.add_argument("--performing", help="Scheduled Performing Physician's Name")
    s.add_argument("--time", help="HHMM or a range HHMM-HHMM (either end open)")
    s.add_argument("--rp-id", help="Requested Procedure ID")

    s = sub.add_parser("mpps-create", help="MPPS N-CREATE")
    s.add_argument("--study-uid", required=True)
    s.add_argument("--patient-id", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--accession", required=True)
    s.add_argument("--sps-id", required=True)
    s.add_argument("--rp-id", required=True)
    s.add_argument("--mpps-uid")
    s.add_argument("--modality", default="CT")
    s.add_argument("--birth-date", default="")
    s.add_argument("--sex", default="")
    s.add_argument("--description", default="")
    s.add_argument("--pps-id")
    s.add_argument("--omit-status", action="store_true")
    s.add_argument("--omit", action="append", default=[], metavar="KEYWORD",
                   help="leave this attribute out (repeatable)")
    s.add_argument("--extra-step", action="append", default=[], help="STUDY_UID:SPS_ID of another step performed")

    s = sub.add_parser("mpps-set", help="MPPS N-SET")
    s.add_argument("--mpps-uid", required=True)
    # Any value: the archive must refuse what is not COMPLETED, DISCONTINUED or IN PROGRESS.
    s.add_argument("--status", required=True)
    s.add_argument("--series-uid")
    s.add_argument("--sop-class", default=str(CTImageStorage))
    s.add_argument("--sop-uids", default="")
    s.add_argument("--protocol", default="CT")
    s.add_argument("--omit-end", action="store_true", help="no end date and time")
    s.add_argument("--also", action="append", default=[], metavar="KEYWORD=VALUE",
                   help="set this attribute too (repeatable)")

    s = sub.add_parser("mpps-scp", help="receive forwarded MPPS (the RIS)")
    s.add_argument("--listen-port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--timeout", type=float, default=60.0)
    s.add_argument("--start-after", type=float, default=0.0)

    s = sub.add_parser("store", help="C-STORE every file of a folder on one association")
    s.add_argument("--dir", required=True)

    s = sub.add_parser("commit", help="Storage Commitment N-ACTION and wait for the N-EVENT-REPORT")
    s.add_argument("--dir", required=True)
    s.add_argument("--extra-uid", action="append", default=[])
    s.add_argument("--mode", required=True, choices=["same", "new"])
    s.add_argument("--listen-port", type=int)
    s.add_argument("--timeout", type=float, default=60.0)
    s.add_argument("--transaction-uid")
    s.add_argument("--start-listener-after", type=float, default=0.0)
    s.add_argument("--wrong-class", action="append", default=[], metavar="SOP_INSTANCE_UID",
                   help="reference this instance with --wrong-class-uid as its SOP Class (repeatable)")
    s.add_argument("--wrong-class-uid", default="1.2.840.10008.5.1.4.1.1.4",
                   help="the SOP Class UID --wrong-class gives (default: MR Image Storage)")

    args = p.parse_args()
    handlers = {
        "hl7": cmd_hl7, "mwl": cmd_mwl, "mpps-create": cmd_mpps_create,
        "mpps-set": cmd_mpps_set, "store": cmd_store, "commit": cmd_commit,
        "mpps-scp": cmd_mpps_scp,
    }
    try:
        return handlers[args.cmd](args)
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        out({"error": "script: %r" % (e,)})
        return 1


if __name__ == "__main__":
    sys.exit(main())
