"""An HTJ2K sample from an uncompressed pydicom sample, and its reference
decode, both by OpenJPH (Debian's openjph-tools: ojph_compress,
ojph_expand), for tests/codecs.rs.

Usage: htj2k_sample.py IN.dcm OUT.dcm REF.raw [--lossy]

The frame is compressed by ojph_compress (reversible 5/3 wavelet, or the
irreversible 9/7 with --lossy), wrapped as High-Throughput JPEG 2000
Lossless Only (1.2.840.10008.1.2.4.201) or High-Throughput JPEG 2000
(1.2.840.10008.1.2.4.203) with a new SOP Instance UID, and decoded again
by ojph_expand: its samples (little-endian, interleaved) go to REF.raw.
"""

import os
import subprocess
import sys
import tempfile

import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid


def main():
    src, out, ref = sys.argv[1:4]
    lossy = "--lossy" in sys.argv[4:]
    ds = pydicom.dcmread(src)
    rows, cols, spp = int(ds.Rows), int(ds.Columns), int(ds.SamplesPerPixel)
    bits = int(ds.BitsAllocated)
    with tempfile.TemporaryDirectory() as tmp:
        if spp == 3:
            # PPM: interleaved RGB (the sample's Planar Configuration is 0).
            raw_in = os.path.join(tmp, "in.ppm")
            with open(raw_in, "wb") as f:
                f.write(b"P6\n%d %d\n255\n" % (cols, rows))
                f.write(ds.PixelData[: rows * cols * 3])
            shape = []
            expanded = os.path.join(tmp, "out.ppm")
        else:
            raw_in = os.path.join(tmp, "in.yuv")
            with open(raw_in, "wb") as f:
                f.write(ds.PixelData[: rows * cols * bits // 8])
            signed = "true" if int(ds.PixelRepresentation) == 1 else "false"
            shape = [
                "-dims", "{%d,%d}" % (cols, rows), "-num_comps", "1",
                "-signed", signed, "-bit_depth", str(int(ds.BitsStored)),
                "-downsamp", "{1,1}",
            ]
            expanded = os.path.join(tmp, "out.yuv")
        stream = os.path.join(tmp, "frame.j2c")
        mode = ["-reversible", "false", "-qstep", "0.002"] if lossy else ["-reversible", "true"]
        subprocess.run(["ojph_compress", "-i", raw_in, "-o", stream, *shape, *mode],
                       check=True, capture_output=True)
        subprocess.run(["ojph_expand", "-i", stream, "-o", expanded], check=True, capture_output=True)
        codestream = open(stream, "rb").read()
        decoded = open(expanded, "rb").read()
    if spp == 3:
        # Skip the PPM header: three lines.
        head_end = 0
        for _ in range(3):
            head_end = decoded.index(b"\n", head_end) + 1
        decoded = decoded[head_end:]
    open(ref, "wb").write(decoded)
    ds.file_meta.TransferSyntaxUID = (
        "1.2.840.10008.1.2.4.203" if lossy else "1.2.840.10008.1.2.4.201"
    )
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PixelData = encapsulate([codestream])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    if spp == 3:
        # JPEG 2000 with the irreversible colour transform: YBR_ICT.
        ds.PhotometricInterpretation = "YBR_ICT" if lossy else "YBR_RCT"
        ds.PlanarConfiguration = 0
    if lossy:
        ds.LossyImageCompression = "01"
    ds.save_as(out, enforce_file_format=True)
    print(len(codestream), len(decoded))


if __name__ == "__main__":
    main()
