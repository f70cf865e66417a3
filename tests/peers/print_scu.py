"""pynetdicom as a modality printing film to Filmless (Print Management
SCU), for tests/print.rs.

    print_scu.py --port P --calling AE --out DIR print --meta gray|color \
        --columns C --rows R [--reference CLASS:UID ...] [--patient-id ID]
    print_scu.py --port P --calling AE --out DIR malformed
    print_scu.py --out DIR sources --count N

`print`: N-GET of the printer, N-CREATE of a film session and of a film
box `STANDARD\\C,R`, one N-SET per image box with a pre-formatted image
(8-bit: grayscale, or RGB color-by-plane as PS3.4 H.4.3 requires), the
film box N-ACTION (print), N-DELETE of the film box and of the session.
Image k (from 1) is written to DIR/source-k.png as sent. With
--reference, image box k carries a Referenced Image Sequence naming the
k-th reference. The last line printed is JSON: every status.

`malformed`: requests a printer refuses (image box unknown, out of range,
film box without a film session or without a display format, an unknown
display format, printing a deleted film box); their statuses as JSON.

`sources`: writes N Secondary Capture files of the same test images
(DIR/source-k.dcm, 8-bit MONOCHROME2), for DCMTK's print client.
"""

import argparse
import json
import os

from PIL import Image, ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
import pynetdicom_race  # noqa: F401  (closes a race in pynetdicom; see there)
from pynetdicom import AE
from pynetdicom.sop_class import (
    BasicColorImageBox,
    BasicColorPrintManagementMeta,
    BasicFilmBox,
    BasicFilmSession,
    BasicGrayscaleImageBox,
    BasicGrayscalePrintManagementMeta,
    Printer,
)

PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"


def test_image(k, color, size=(96, 80)):
    """Image k: its own background level, a bright bar whose position
    tells k, and (in color) its own hue: no two alike."""
    w, h = size
    if color:
        img = Image.new("RGB", size, (20 * k % 200, 40, 200 - 15 * k % 180))
    else:
        img = Image.new("L", size, 15 * k)
    d = ImageDraw.Draw(img)
    x = (k * 7) % (w - 12)
    d.rectangle([x, 8, x + 10, h - 8], fill=(250, 250, 250) if color else 250)
    d.rectangle([4, 4 + k * 3 % (h - 20), w - 4, 10 + k * 3 % (h - 20)], fill=(0, 0, 0) if color else 0)
    return img


def image_item(img, color):
    item = Dataset()
    item.SamplesPerPixel = 3 if color else 1
    item.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
    item.Rows = img.height
    item.Columns = img.width
    item.BitsAllocated = 8
    item.BitsStored = 8
    item.HighBit = 7
    item.PixelRepresentation = 0
    if color:
        item.PlanarConfiguration = 1
        data = b"".join(band.tobytes() for band in img.split())
    else:
        data = img.tobytes()
    item.add_new(0x7FE00010, "OB", data)
    return item


def associate(args, meta):
    ae = AE(ae_title=args.calling)
    ae.acse_timeout = 30
    ae.dimse_timeout = 60
    ae.network_timeout = 60
    ae.add_requested_context(meta)
    assoc = ae.associate("127.0.0.1", args.port, ae_title="FILMLESS")
    if not assoc.is_established:
        raise SystemExit("association not established")
    return assoc


def status_of(result):
    status = result[0] if isinstance(result, tuple) else result
    return getattr(status, "Status", None)


def do_print(args):
    color = args.meta == "color"
    meta = BasicColorPrintManagementMeta if color else BasicGrayscalePrintManagementMeta
    box_class = BasicColorImageBox if color else BasicGrayscaleImageBox
    out = {}
    assoc = associate(args, meta)
    status, printer = assoc.send_n_get([0x21100010, 0x21100030], Printer, PRINTER_INSTANCE, meta_uid=meta)
    out["printer"] = getattr(status, "Status", None)
    out["printer_status"] = str(printer.PrinterStatus) if printer is not None and "PrinterStatus" in printer else None
    session = Dataset()
    session.NumberOfCopies = 1
    session.MediumType = "BLUE FILM"
    session.FilmDestination = "PROCESSOR"
    if args.patient_id:
        session.PatientID = args.patient_id
    # pynetdicom's status carries no Affected SOP Instance UID: the UIDs
    # are ours (DCMTK's client lets the printer choose them).
    session_uid = generate_uid()
    status, created = assoc.send_n_create(session, BasicFilmSession, session_uid, meta_uid=meta)
    out["session"] = getattr(status, "Status", None)
    film = Dataset()
    film.ImageDisplayFormat = f"STANDARD\\{args.columns},{args.rows}"
    film.FilmOrientation = "PORTRAIT"
    film.FilmSizeID = "14INX17IN"
    film.MagnificationType = "BILINEAR"
    film.BorderDensity = "BLACK"
    film.EmptyImageDensity = "WHITE"
    ref = Dataset()
    ref.ReferencedSOPClassUID = BasicFilmSession
    ref.ReferencedSOPInstanceUID = session_uid
    film.ReferencedFilmSessionSequence = [ref]
    film_uid = generate_uid()
    status, box = assoc.send_n_create(film, BasicFilmBox, film_uid, meta_uid=meta)
    out["film_box"] = getattr(status, "Status", None)
    boxes = [i.ReferencedSOPInstanceUID for i in box.ReferencedImageBoxSequence]
    out["image_boxes"] = len(boxes)
    sets = []
    for k, uid in enumerate(boxes, start=1):
        img = test_image(k, color)
        img.save(os.path.join(args.out, f"source-{k}.png"))
        ds = Dataset()
        ds.ImageBoxPosition = k
        ds.Polarity = "NORMAL"
        seq = image_item(img, color)
        if color:
            ds.BasicColorImageSequence = [seq]
        else:
            ds.BasicGrayscaleImageSequence = [seq]
        if args.reference and k <= len(args.reference):
            c, u = args.reference[k - 1].split(":")
            r = Dataset()
            r.ReferencedSOPClassUID = c
            r.ReferencedSOPInstanceUID = u
            ds.ReferencedImageSequence = [r]
        sets.append(status_of(assoc.send_n_set(ds, box_class, uid, meta_uid=meta)))
    out["image_box_sets"] = sets
    status, _ = assoc.send_n_action(None, 1, BasicFilmBox, film_uid, meta_uid=meta)
    out["print"] = getattr(status, "Status", None)
    out["print_comment"] = str(status.get("ErrorComment", ""))
    out["delete_film_box"] = status_of(assoc.send_n_delete(BasicFilmBox, film_uid, meta_uid=meta))
    out["delete_session"] = status_of(assoc.send_n_delete(BasicFilmSession, session_uid, meta_uid=meta))
    assoc.release()
    return out


def malformed(args):
    meta = BasicGrayscalePrintManagementMeta
    out = {}
    assoc = associate(args, meta)
    # An image box nobody created.
    ds = Dataset()
    ds.ImageBoxPosition = 1
    ds.BasicGrayscaleImageSequence = [image_item(test_image(1, False), False)]
    out["unknown_image_box"] = status_of(assoc.send_n_set(ds, BasicGrayscaleImageBox, generate_uid(), meta_uid=meta))
    # A film box before any film session.
    film = Dataset()
    film.ImageDisplayFormat = "STANDARD\\1,1"
    ref = Dataset()
    ref.ReferencedSOPClassUID = BasicFilmSession
    ref.ReferencedSOPInstanceUID = generate_uid()
    film.ReferencedFilmSessionSequence = [ref]
    out["film_box_without_session"] = status_of(assoc.send_n_create(film, BasicFilmBox, None, meta_uid=meta))
    session = Dataset()
    session.NumberOfCopies = 1
    session_uid = generate_uid()
    assoc.send_n_create(session, BasicFilmSession, session_uid, meta_uid=meta)
    ref.ReferencedSOPInstanceUID = session_uid
    # No display format; one no printer knows.
    nofmt = Dataset()
    nofmt.ReferencedFilmSessionSequence = [ref]
    out["film_box_without_format"] = status_of(assoc.send_n_create(nofmt, BasicFilmBox, None, meta_uid=meta))
    film.ImageDisplayFormat = "SLIDE\\9"
    out["unknown_format"] = status_of(assoc.send_n_create(film, BasicFilmBox, None, meta_uid=meta))
    film.ImageDisplayFormat = "ROW\\" + ",".join(["1"] * 30)
    out["too_many_rows"] = status_of(assoc.send_n_create(film, BasicFilmBox, None, meta_uid=meta))
    film.ImageDisplayFormat = "STANDARD\\1,1"
    film.FilmSizeID = "99INX99IN"
    out["unknown_film_size"] = status_of(assoc.send_n_create(film, BasicFilmBox, None, meta_uid=meta))
    del film.FilmSizeID
    film_uid = generate_uid()
    status, box = assoc.send_n_create(film, BasicFilmBox, film_uid, meta_uid=meta)
    box_uid = box.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID
    # A film box's layout is not changed after it is made.
    relayout = Dataset()
    relayout.ImageDisplayFormat = "STANDARD\\2,2"
    out["film_box_set_format"] = status_of(assoc.send_n_set(relayout, BasicFilmBox, film_uid, meta_uid=meta))
    # Position 2 of a 1×1 film.
    ds.ImageBoxPosition = 2
    out["position_out_of_range"] = status_of(assoc.send_n_set(ds, BasicGrayscaleImageBox, box_uid, meta_uid=meta))
    # No image in the N-SET.
    empty = Dataset()
    empty.ImageBoxPosition = 1
    out["image_box_without_image"] = status_of(assoc.send_n_set(empty, BasicGrayscaleImageBox, box_uid, meta_uid=meta))
    # An image that says more pixels than it holds.
    short = image_item(test_image(1, False), False)
    short.Rows = 4000
    ds.ImageBoxPosition = 1
    ds.BasicGrayscaleImageSequence = [short]
    out["truncated_image"] = status_of(assoc.send_n_set(ds, BasicGrayscaleImageBox, box_uid, meta_uid=meta))
    # An empty film prints nothing (warning), a deleted one is gone.
    out["print_empty"] = status_of(assoc.send_n_action(None, 1, BasicFilmBox, film_uid, meta_uid=meta))
    out["delete_film_box"] = status_of(assoc.send_n_delete(BasicFilmBox, film_uid, meta_uid=meta))
    out["print_deleted"] = status_of(assoc.send_n_action(None, 1, BasicFilmBox, film_uid, meta_uid=meta))
    out["unknown_action"] = status_of(assoc.send_n_action(None, 7, BasicFilmSession, session_uid, meta_uid=meta))
    out["session_print_without_film_box"] = status_of(
        assoc.send_n_action(None, 1, BasicFilmSession, session_uid, meta_uid=meta)
    )
    out["second_session"] = status_of(assoc.send_n_create(session, BasicFilmSession, generate_uid(), meta_uid=meta))
    assoc.release()
    # The printer still answers.
    assoc = associate(args, meta)
    status, _ = assoc.send_n_get([0x21100010], Printer, PRINTER_INSTANCE, meta_uid=meta)
    out["printer_after"] = getattr(status, "Status", None)
    assoc.release()
    return out


def sources(args):
    for k in range(1, args.count + 1):
        img = test_image(k, False)
        img.save(os.path.join(args.out, f"source-{k}.png"))
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientName = "PRINT^SOURCE"
        ds.PatientID = "PRINT1"
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.Modality = "OT"
        ds.ConversionType = "WSD"
        ds.InstanceNumber = k
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = img.height
        ds.Columns = img.width
        ds.BitsAllocated = 8
        ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.WindowCenter = 127.5
        ds.WindowWidth = 256
        ds.add_new(0x7FE00010, "OB", img.tobytes())
        ds.save_as(os.path.join(args.out, f"source-{k:02}.dcm"), enforce_file_format=True)
    return {"written": args.count}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int)
    p.add_argument("--calling", default="PRINTSCU")
    p.add_argument("--out", required=True)
    sub = p.add_subparsers(dest="what", required=True)
    pr = sub.add_parser("print")
    pr.add_argument("--meta", choices=["gray", "color"], default="gray")
    pr.add_argument("--columns", type=int, default=1)
    pr.add_argument("--rows", type=int, default=1)
    pr.add_argument("--reference", nargs="*", default=[])
    pr.add_argument("--patient-id", default="")
    sub.add_parser("malformed")
    so = sub.add_parser("sources")
    so.add_argument("--count", type=int, default=12)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    result = {"print": do_print, "malformed": malformed, "sources": sources}[args.what](args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
