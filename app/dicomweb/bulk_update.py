"""Bulk update of patient and study attributes (reference-2.md §2): which attributes a change
may hold, checking a change dataset, and applying it to a stored file and to its stored DICOM
JSON. Pure: no database, no Flask.

A file is rewritten without loading its pixel data: everything before the first top-level
element past group 0040 (every attribute a change may hold is in groups 0008-0040) is parsed
and written again with the change; the rest of the file is copied byte for byte. A deflated
file has no byte offsets to copy from, so it is read and written whole.
"""
from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

from pydicom import dcmread
from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_partial
from pydicom.filewriter import dcmwrite

from .json_model import dumps, to_dicom_json
from .part10 import DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
from .tags import format_tag, vr_of
from .validation import ElementValidationError, minimum_validate

#: Studies one request may list (reference.md §13).
MAX_STUDIES = 50
#: The 36 top-level attributes a change may hold (reference-2.md §2.2).
ALLOWED_TAGS = frozenset({
    0x00100010, 0x00100020, 0x00101000, 0x00100022, 0x00101001, 0x00101005, 0x00101060,
    0x00101090, 0x00100021, 0x00101010, 0x00102180, 0x00403001, 0x00100030, 0x00100032,
    0x00100040, 0x00100200, 0x00101020, 0x00101030, 0x00101040, 0x00101080, 0x00101081,
    0x00102150, 0x00102152, 0x00102154, 0x00102160, 0x001021F0, 0x00104000, 0x00102297,
    0x00102298, 0x00102299, 0x00102201, 0x00102292, 0x00102295, 0x00080050, 0x00080090,
    0x00081030})
#: Every allowed tag is below this group: the part of a file a change rewrites.
_LAST_GROUP = 0x0040
NOT_SUPPORTED = "Updating the tag is not supported"
#: ErrorNumbers.ValidationFailure of the reference's error comments.
VALIDATION_FAILURE = "DICOM100"
FAILED_ATTRIBUTES_SEQUENCE = "00741048"
ERROR_COMMENT = "00000902"
SPECIFIC_CHARACTER_SET = 0x00080005
UTF8 = "ISO_IR 192"
_COPY_CHUNK = 1024 * 1024


class ChangeDatasetSyntaxError(ValueError):
    """The change dataset is not DICOM JSON this server can read."""


class UnencodableChangeError(ValueError):
    """A changed value cannot be written in the file's character set; ``str()`` says which."""


@dataclass(frozen=True)
class Change:
    """A checked change: its elements (in tag order), their DICOM JSON, and whether a value
    needs more than ASCII."""

    elements: tuple[DataElement, ...]
    json: dict[str, Any]
    non_ascii: bool

    @property
    def tags(self) -> frozenset[int]:
        return frozenset(int(e.tag) for e in self.elements)

    def dataset(self) -> Dataset:
        """The change as a dataset (for index columns and extended query tag values)."""
        ds = Dataset()
        for elem in self.elements:
            ds.add(DataElement(elem.tag, elem.VR, elem.value))
        return ds


def parse_change_dataset(value: Any) -> Dataset:
    """The change dataset of a request body (DICOM JSON); ChangeDatasetSyntaxError if it is
    not a JSON object of elements pydicom reads. Bulk data (URIs, inline binary) is refused:
    no allowed attribute is binary, and the server never fetches a URI a request names."""
    if not isinstance(value, dict):
        raise ChangeDatasetSyntaxError("the change dataset is not a JSON object")
    for element in value.values():
        if not isinstance(element, dict) or "BulkDataURI" in element \
                or "InlineBinary" in element:
            raise ChangeDatasetSyntaxError("an element is not a DICOM JSON element")
    try:
        return Dataset.from_json(value)
    except (ValueError, TypeError, KeyError, AttributeError, NotImplementedError,
            RecursionError) as exc:
        raise ChangeDatasetSyntaxError(str(exc)) from None


def _comment(tag: int, message: str) -> str:
    return f"{VALIDATION_FAILURE}: {format_tag(tag)} - {message}"


def check_change_dataset(ds: Dataset) -> list[str]:
    """The reference's error comment for every element that may not be changed or whose value
    is invalid, in tag order (reference-2.md §2.1 step 7); empty when the change is valid."""
    errors = []
    for elem in ds:
        tag = int(elem.tag)
        if tag not in ALLOWED_TAGS:
            errors.append(_comment(tag, NOT_SUPPORTED))
            continue
        expected = vr_of(tag)
        if elem.VR != expected:
            errors.append(_comment(tag, f"The VR '{elem.VR}' is not the VR '{expected}' of "
                                        "the tag."))
            continue
        try:
            minimum_validate(elem)
        except ElementValidationError as exc:
            errors.append(_comment(tag, str(exc)))
    return errors


def failed_attributes(errors: list[str]) -> dict[str, Any]:
    """The 400 body: a dataset whose FailedAttributesSequence holds one ErrorComment each."""
    items = [{ERROR_COMMENT: {"vr": "LO", "Value": [error]}} for error in errors]
    return {FAILED_ATTRIBUTES_SEQUENCE: {"vr": "SQ", "Value": items}}


def prepare_change(ds: Dataset) -> Change:
    """A checked change dataset, ready to apply."""
    elements = tuple(ds[tag] for tag in sorted(ds.keys()))
    texts = [str(v) for e in elements for v in (e.value if e.VM > 1 else [e.value])
             if v is not None]
    return Change(elements, to_dicom_json(ds), any(not t.isascii() for t in texts))


def _character_set(ds: Dataset, change: Change) -> str | None:
    """The character set to write, when the change needs a new one (ASCII files get UTF-8);
    UnencodableChangeError when the file's own cannot hold the values."""
    if not change.non_ascii:
        return None
    declared = ds.get(SPECIFIC_CHARACTER_SET)
    values = [] if declared is None or declared.value in (None, "") else (
        list(declared.value) if declared.VM > 1 else [declared.value])
    values = [str(v).strip() for v in values]
    if not values or values == ["ISO_IR 6"]:
        return UTF8
    if UTF8 in values:
        return None
    encodings = convert_encodings(values)
    declared_text = "\\".join(values)
    for elem in change.elements:
        for value in (elem.value if elem.VM > 1 else [elem.value]):
            try:
                str(value or "").encode(encodings[0])
            except (UnicodeEncodeError, LookupError):
                raise UnencodableChangeError(
                    f"A value of {format_tag(elem.tag)} cannot be written in the character "
                    f"set {declared_text} of the file.") from None
    return None


def rewrite(source: BinaryIO, write: Callable[[bytes], Any], change: Change) -> str | None:
    """Write the file read from ``source`` (seekable) with the change applied; return the
    character set the file now declares when the change had to set one (else None)."""
    ds = read_partial(source, stop_when=lambda tag, vr, length: tag.group > _LAST_GROUP)
    deflated = ds.file_meta.get("TransferSyntaxUID") == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
    if deflated:
        source.seek(0)
        ds = dcmread(source)
    rest = source.tell()
    for elem in change.elements:
        ds[elem.tag] = DataElement(elem.tag, elem.VR, elem.value)
    charset = _character_set(ds, change)
    if charset is not None:
        ds.SpecificCharacterSet = charset
    if getattr(ds, "preamble", None) is None:
        ds.preamble = b"\0" * 128
    head = io.BytesIO()
    dcmwrite(head, ds, enforce_file_format=False)
    write(head.getvalue())
    if not deflated:
        source.seek(rest)
        shutil.copyfileobj(source, _Writer(write), _COPY_CHUNK)
    return charset


class _Writer:
    """A file-like ``write`` for shutil.copyfileobj."""

    def __init__(self, write: Callable[[bytes], Any]) -> None:
        self.write = write


def patch_metadata(text: str, change: Change, charset: str | None) -> str:
    """Stored DICOM JSON with the changed elements (and a new character set) replaced."""
    dataset = json.loads(text)
    dataset.update(change.json)
    if charset is not None:
        dataset[f"{SPECIFIC_CHARACTER_SET:08X}"] = {"vr": "CS", "Value": [charset]}
    return dumps(dict(sorted(dataset.items())))
