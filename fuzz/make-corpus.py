#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (committed; re-run to refresh).
Needs pydicom."""
import io, os, struct
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)


def item(t, body):
    return struct.pack(">BBH", t, 0, len(body)) + body


def ae(s):
    return s.encode().ljust(16)


# PDUs (PS3.8 9.3)
ctx = item(0x30, b"1.2.840.10008.1.1") + item(0x40, b"1.2.840.10008.1.2")
pc = item(0x20, b"\x01\x00\x00\x00" + ctx)
user = item(0x50, item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.3.4"))
app = item(0x10, b"1.2.840.10008.3.1.1.1")
rq_body = struct.pack(">HH", 1, 0) + ae("FILMLESS") + ae("SCU") + b"\0" * 32 + app + pc + user
put("pdu", "associate-rq", struct.pack(">BBI", 1, 0, len(rq_body)) + rq_body)
pdv = struct.pack(">IBB", 6, 1, 3) + b"\x00\x00\x00\x00"
put("pdu", "p-data", struct.pack(">BBI", 4, 0, len(pdv)) + pdv)
put("pdu", "release-rq", struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
put("pdu", "abort", struct.pack(">BBI", 7, 0, 4) + b"\0\0\2\0")


def implicit(ds):
    buf = io.BytesIO()
    from pydicom.filewriter import write_dataset
    from pydicom.filebase import DicomFileLike
    fp = DicomFileLike(buf)
    fp.is_little_endian = True
    fp.is_implicit_VR = True
    write_dataset(fp, ds)
    return buf.getvalue()


# DIMSE command sets
c = Dataset()
c.AffectedSOPClassUID = "1.2.840.10008.1.1"
c.CommandField = 0x0030
c.MessageID = 1
c.CommandDataSetType = 0x0101
put("dimse_command", "c-echo-rq", implicit(c))
c = Dataset()
c.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
c.CommandField = 0x0001
c.MessageID = 7
c.Priority = 0
c.CommandDataSetType = 0x0000
c.AffectedSOPInstanceUID = "1.2.3.4.5"
put("dimse_command", "c-store-rq", implicit(c))


def part10(syntax):
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4.5.6"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = "1.2.3.4.5"
    ds.PatientID = "P1"
    ds.PatientName = "DOE^JOHN"
    ds.Modality = "CT"
    ds.Rows = 2
    ds.Columns = 2
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\x01\x00\x02\x00\x03\x00\x04\x00"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True, implicit_vr=syntax == ImplicitVRLittleEndian, little_endian=True)
    return buf.getvalue()


# C-FIND identifiers: first byte 0 = implicit VR LE, 1 = explicit VR LE.
q = Dataset()
q.QueryRetrieveLevel = "STUDY"
q.PatientName = "NGUYEN*"
q.StudyDate = "20240101-20241231"
q.StudyInstanceUID = ""
code = Dataset()
code.CodeValue = "T-D1100"
code.CodingSchemeDesignator = "SRT"
q.AnatomicRegionSequence = [code]
put("identifier", "study-implicit", b"\x00" + implicit(q))
buf = io.BytesIO()
from pydicom.filewriter import write_dataset
from pydicom.filebase import DicomFileLike
fp = DicomFileLike(buf)
fp.is_little_endian = True
fp.is_implicit_VR = False
write_dataset(fp, q)
put("identifier", "study-explicit", b"\x01" + buf.getvalue())

ct = part10(ExplicitVRLittleEndian)
put("ingest", "ct-explicit", ct)
put("ingest", "ct-implicit", part10(ImplicitVRLittleEndian))
put("stow_multipart", "one-part",
    b'multipart/related; type="application/dicom"; boundary=XYZ\n--XYZ\r\nContent-Type: application/dicom\r\n\r\n'
    + ct + b"\r\n--XYZ--\r\n")
put("stow_multipart", "two-parts",
    b'multipart/related; type="application/dicom"; boundary="a b"\n--a b\r\n\r\nxx\r\n--a b\r\nContent-Type: application/dicom\r\n\r\n'
    + ct[:100] + b"\r\n--a b--\r\n")
for i, q in enumerate([
    b"PatientName=NGUYEN*&StudyDate=20240101-20241231&ModalitiesInStudy=CT&limit=100",
    b"AccessionNumber=ACC00000001&includefield=all&offset=10",
    b"00100020=P1&fuzzymatching=true&includefield=00081030,StudyDescription",
    b"StudyInstanceUID=1.2.3\\1.2.4&StudyTime=0800-1200&orderby=StudyDate",
]):
    put("qido_query", f"q{i}", q)
for i, a in enumerate([
    b'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1, application/dicom+json;q=0.5',
    b"image/jpeg;q=0.9, image/png, */*;q=0.1",
    b'multipart/related; type="application/octet-stream"; transfer-syntax=*',
]):
    put("accept_header", f"a{i}", a)
