"""Generate the small DICOM files the Postman collection and curl checks upload.

Run: ``.venv/bin/python -m postman.make_data``. UIDs are fixed, so the collection can address
what it stored; the collection deletes the study first, so it can run again and again.
"""
from __future__ import annotations

from pathlib import Path

from tests.dicom_factory import make_dataset, multipart, to_bytes

HERE = Path(__file__).parent / "data"
ROOT_UID = "1.2.826.0.1.3680043.8.498.7"
STUDY = f"{ROOT_UID}.1"
SERIES_1 = f"{ROOT_UID}.2.1"
SERIES_2 = f"{ROOT_UID}.2.2"
SOP_1 = f"{ROOT_UID}.3.1"
SOP_2 = f"{ROOT_UID}.3.2"
SOP_3 = f"{ROOT_UID}.3.3"
BOUNDARY = "DICOMwebPostmanBoundary"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    common = dict(PatientID="POSTMAN-1", PatientName="Postman^Pat", StudyDate="20240315",
                  AccessionNumber="PM001", StudyDescription="Postman study",
                  SeriesDescription="Postman series")
    first = make_dataset(STUDY, SERIES_1, SOP_1, rows=16, columns=16, frames=3, **common)
    second = make_dataset(STUDY, SERIES_1, SOP_2, rows=16, columns=16, InstanceNumber=2,
                          **common)
    third = make_dataset(STUDY, SERIES_2, SOP_3, rows=16, columns=16, Modality="MR", **common)
    (HERE / "instance1.dcm").write_bytes(to_bytes(first))
    body, _ = multipart([to_bytes(second), to_bytes(third)], boundary=BOUNDARY)
    (HERE / "instances2and3.multipart").write_bytes(body)
    print(f"wrote {sorted(p.name for p in HERE.iterdir())}")


if __name__ == "__main__":
    main()
