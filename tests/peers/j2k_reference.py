"""Reference decode of a JPEG 2000 DICOM file's frames with Pillow's
OpenJPEG: writes the frames' samples, concatenated, as little-endian
bytes (8 or 16 bits, as the file allocates; signed ones in two's
complement), to OUT.

Usage: j2k_reference.py IN.dcm OUT.raw"""

import io
import sys

import pydicom
from pydicom.encaps import generate_frames
from PIL import Image


def main():
    ds = pydicom.dcmread(sys.argv[1])
    n = int(ds.get("NumberOfFrames", 1) or 1)
    bits = int(ds.BitsAllocated)
    out = bytearray()
    for frame in generate_frames(ds.PixelData, number_of_frames=n):
        img = Image.open(io.BytesIO(frame))
        img.load()
        raw = img.tobytes()
        if bits == 16 and img.mode in ("I;16", "I;16L", "I;16S"):
            if int(ds.PixelRepresentation) == 1:
                # Pillow gives signed samples offset by 2^15 (as unsigned):
                # back to two's complement, as DICOM stores them.
                import struct
                vals = struct.unpack("<%dH" % (len(raw) // 2), raw)
                raw = struct.pack("<%dH" % len(vals), *[(v - 32768) & 0xFFFF for v in vals])
            out += raw
        elif bits == 16 and img.mode == "I":
            # 32-bit samples: keep the low 16 bits, little-endian.
            import struct
            vals = struct.unpack("<%di" % (len(raw) // 4), raw)
            out += struct.pack("<%dH" % len(vals), *[v & 0xFFFF for v in vals])
        else:
            out += raw
    open(sys.argv[2], "wb").write(bytes(out))
    print(img.mode, len(out))


if __name__ == "__main__":
    main()
