"""Check a de-identified export against the originals, for
tests/export.rs, attribute by attribute (PS3.15 Table E.1-1, Basic
Profile, as src/service/deidentify_table.rs lists it).

    deid_check.py ORIGINALS_DIR EXPORT_DIR TABLE.rs NAME ID

Pairs files by Instance Number. Fails (prints JSON with "problems") when an
attribute of the table keeps a non-empty original value (at any depth),
a private attribute remains, UIDs are not remapped consistently, the
patient is not the replacement, Patient Identity Removed is not YES, or
dciodvfy reports an error the original did not have.
"""

import json
import os
import re
import subprocess
import sys

import pydicom


def table(path):
    out = {}
    for m in re.finditer(r"\(0x([0-9A-F]{4}), 0x([0-9A-F]{4}), (\w+), (?:true|false)\)", open(path).read()):
        out[int(m.group(1) + m.group(2), 16)] = m.group(3)
    return out


def walk(ds, path=""):
    """(path, element) of every element, nested ones too."""
    for elem in ds:
        yield path + str(elem.tag), elem
        if elem.VR == "SQ":
            for n, item in enumerate(elem.value):
                yield from walk(item, f"{path}{elem.tag}[{n}].")


def errors(path):
    r = subprocess.run(["dciodvfy", path], capture_output=True, text=True)
    return {l.strip() for l in (r.stdout + r.stderr).splitlines() if l.startswith("Error")}


def main():
    originals, export, table_path, name, pid = sys.argv[1:6]
    profile = table(table_path)
    problems = []
    by_number = {}
    for f in sorted(os.listdir(originals)):
        ds = pydicom.dcmread(os.path.join(originals, f))
        by_number[int(ds.InstanceNumber)] = (os.path.join(originals, f), ds)
    exported = []
    for root, _, files in os.walk(export):
        exported += [os.path.join(root, f) for f in sorted(files) if f.endswith(".dcm")]
    uid_map = {}
    checked = 0
    # Every instance UID of the originals (not the standard's own).
    original_uids = set()
    for _, (_, ds) in by_number.items():
        for _, elem in walk(ds):
            if elem.VR == "UI" and elem.value:
                for v in (elem.value if isinstance(elem.value, (list, pydicom.multival.MultiValue)) else [elem.value]):
                    if not str(v).startswith("1.2.840.10008."):
                        original_uids.add(str(v))
    for path in exported:
        new = pydicom.dcmread(path)
        orig_path, orig = by_number[int(new.InstanceNumber)]
        if new.get("BurnedInAnnotation", "") == "YES":
            problems.append(f"{path}: burned-in annotation exported")
        originals_flat = dict(walk(orig))
        for p, elem in walk(new):
            if elem.tag.is_private:
                problems.append(f"{path}: private {p} remains")
            before = originals_flat.get(p)
            if before is None or int(elem.tag) not in profile or elem.VR == "SQ":
                continue
            if before.value in (None, "", b"") or elem.tag in (0x00100010, 0x00100020):
                continue
            checked += 1
            if elem.value == before.value:
                problems.append(f"{path}: {p} {elem.name} kept its original value")
            if profile[int(elem.tag)] == "Uid":
                old = str(before.value)
                if uid_map.setdefault(old, str(elem.value)) != str(elem.value):
                    problems.append(f"{path}: {p} UID {old} mapped two ways")
        for p, elem in walk(new):
            if elem.VR == "UI" and elem.value:
                for v in (elem.value if isinstance(elem.value, (list, pydicom.multival.MultiValue)) else [elem.value]):
                    if str(v) in original_uids:
                        problems.append(f"{path}: {p} keeps the original UID {v}")
        if new.get("PatientBirthDate", ""):
            problems.append(f"{path}: a birth date remains")
        if str(new.PatientName) != name or new.PatientID != pid:
            problems.append(f"{path}: patient {new.PatientName} {new.PatientID}")
        if new.get("PatientIdentityRemoved") != "YES":
            problems.append(f"{path}: Patient Identity Removed is not YES")
        if new.file_meta.MediaStorageSOPInstanceUID != new.SOPInstanceUID:
            problems.append(f"{path}: meta and data set SOP Instance UIDs differ")
        added = errors(path) - errors(orig_path)
        if added:
            problems.append(f"{path}: new dciodvfy errors {sorted(added)}")
    print(json.dumps({"ok": not problems, "files": len(exported), "checked": checked, "problems": problems[:30]}))


if __name__ == "__main__":
    main()
