"""Synthetic DICOM test data: datasets, Part-10 bytes, multipart bodies."""
from __future__ import annotations

import io
import struct
import uuid
from pathlib import Path
from typing import Iterable

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.encoders import JPEG2000LosslessEncoder
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DATA_DIR = Path(__file__).parent / "data"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def uid() -> str:
    """A fresh valid UID (digits and dots)."""
    return generate_uid()


def make_dataset(study_uid: str | None = None, series_uid: str | None = None,
                 sop_uid: str | None = None, rows: int = 4, columns: int = 4,
                 frames: int = 1, pixels: bool = True, **attrs: object) -> Dataset:
    """A small valid CT instance; keyword arguments set (or, with None, delete) attributes."""
    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_uid or uid()
    ds.StudyInstanceUID = study_uid or uid()
    ds.SeriesInstanceUID = series_uid or uid()
    ds.PatientID = "PID-1"
    ds.PatientName = "Doe^John"
    ds.PatientBirthDate = "19700101"
    ds.StudyDate = "20240102"
    ds.StudyTime = "101112"
    ds.AccessionNumber = "ACC1"
    ds.StudyDescription = "Synthetic study"
    ds.ReferringPhysicianName = "Ref^Doc"
    ds.StudyID = "S1"
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SpecificCharacterSet = "ISO_IR 100"
    if pixels:
        ds.Rows, ds.Columns = rows, columns
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = 0
        if frames > 1:
            ds.NumberOfFrames = frames
        data = (np.arange(rows * columns * frames, dtype=np.uint16) % 4096)
        ds.PixelData = data.tobytes()
    for key, value in attrs.items():
        if value is None:
            if key in ds:
                delattr(ds, key)
        else:
            setattr(ds, key, value)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def to_bytes(ds: Dataset, implicit: bool = False) -> bytes:
    """Part-10 bytes (with preamble) of a dataset."""
    buffer = io.BytesIO()
    if implicit:
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def multipart(parts: Iterable[bytes], boundary: str | None = None,
              content_type: str | None = "application/dicom") -> tuple[bytes, str]:
    """A multipart/related body and its Content-Type header."""
    boundary = boundary or uuid.uuid4().hex
    chunks = []
    for part in parts:
        chunks.append(f"--{boundary}\r\n".encode())
        if content_type:
            chunks.append(f"Content-Type: {content_type}\r\n".encode())
        chunks.append(b"\r\n")
        chunks.append(part)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    header = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return b"".join(chunks), header


def sample_file(name: str) -> bytes:
    """Bytes of a real DICOM file under tests/data."""
    return (DATA_DIR / name).read_bytes()


def _codestream(rows: int, columns: int, encode_rows: int, encode_columns: int) -> bytes:
    """A lossless 16-bit J2K codestream of a blank image, its SIZ forged to rows x columns."""
    data = JPEG2000LosslessEncoder.encode(
        np.zeros((encode_rows, encode_columns), dtype=np.uint16), rows=encode_rows,
        columns=encode_columns, samples_per_pixel=1, bits_allocated=16, bits_stored=16,
        pixel_representation=0, photometric_interpretation="MONOCHROME2",
        number_of_frames=1, planar_configuration=0)
    siz = data.index(b"\xff\x51")
    # SIZ: marker, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz
    return (data[:siz + 6] + struct.pack(">LLLLLL", columns, rows, 0, 0, columns, rows)
            + data[siz + 30:])


def forged_j2k_dataset(rows: int, columns: int, frames: int = 1,
                       encoded: tuple[int, int] = (64, 64)) -> Dataset:
    """A JPEG 2000 lossless instance declaring rows x columns 16-bit pixels: a decompression
    bomb when the declared size is large and ``encoded`` small (issue #15)."""
    ds = make_dataset(pixels=False)
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    frame = _codestream(rows, columns, *encoded)
    ds.PixelData = encapsulate([frame] * frames)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90"
    return ds
