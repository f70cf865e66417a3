"""dicomweb-client (PyPI) against the Filmless server, for tests/dicomweb.rs.

Runs the calls a RIS or a viewer makes and prints one JSON object with
what came back; the Rust test decides what is right.
"""

import json
import sys

from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread


def main():
    url, study, series, sop, multiframe_study, multiframe_series, multiframe_sop, upload = sys.argv[1:9]
    client = DICOMwebClient(url=url)
    out = {}

    # Search at each level, with filters.
    studies = client.search_for_studies(search_filters={"PatientName": "*"})
    out["studies"] = len(studies)
    out["study_uids"] = sorted(s["0020000D"]["Value"][0] for s in studies)
    by_modality = client.search_for_studies(search_filters={"ModalitiesInStudy": "CT"}, limit=1)
    out["limited"] = len(by_modality)
    series_found = client.search_for_series(study_instance_uid=study)
    out["series"] = [s["0020000E"]["Value"][0] for s in series_found]
    instances = client.search_for_instances(study_instance_uid=study, series_instance_uid=series)
    out["instances"] = len(instances)
    one = client.search_for_instances(search_filters={"SOPInstanceUID": sop})
    out["instance_search"] = [i["00080018"]["Value"][0] for i in one]

    # Metadata.
    meta = client.retrieve_series_metadata(study, series)
    out["series_metadata"] = len(meta)
    out["bulkdata_uri"] = meta[0].get("7FE00010", {}).get("BulkDataURI", "")
    study_meta = client.retrieve_study_metadata(study)
    out["study_metadata"] = len(study_meta)
    inst_meta = client.retrieve_instance_metadata(study, series, sop)
    out["instance_metadata_sop"] = inst_meta["00080018"]["Value"][0]

    # Instances.
    ds = client.retrieve_instance(study, series, sop)
    out["instance_sop"] = ds.SOPInstanceUID
    out["instance_rows"] = int(ds.Rows)
    out["instance_pixels"] = len(ds.PixelData)
    series_ds = client.retrieve_series(study, series)
    out["series_retrieved"] = len(series_ds)

    # Frames: one, and a list, of a multi-frame instance.
    frames = client.retrieve_instance_frames(multiframe_study, multiframe_series, multiframe_sop, frame_numbers=[1])
    out["frame1"] = len(frames[0])
    frames = client.retrieve_instance_frames(
        multiframe_study, multiframe_series, multiframe_sop, frame_numbers=[2, 1],
        media_types=(("application/octet-stream", "*"),),
    )
    out["frames_list"] = [len(f) for f in frames]

    # Bulk data through the URI given in the metadata.
    if out["bulkdata_uri"]:
        bulk = client.retrieve_bulkdata(out["bulkdata_uri"])
        out["bulkdata"] = [len(b) for b in bulk]

    # Rendered images.
    jpeg = client.retrieve_instance_rendered(study, series, sop, media_types=("image/jpeg",), params={"window": "40,400", "viewport": "32,32"})
    out["rendered_jpeg"] = jpeg[:2].hex()
    png = client.retrieve_instance_frames_rendered(study, series, sop, frame_numbers=[1], media_types=("image/png",))
    out["rendered_frame_png"] = png[1:4].decode("ascii", "replace")

    # Store.
    stored = client.store_instances([dcmread(upload)])
    # dicomweb-client answers with the response as a pydicom Dataset.
    out["stored_referenced"] = len(getattr(stored, "ReferencedSOPSequence", []))
    out["stored_failed"] = len(getattr(stored, "FailedSOPSequence", []))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
