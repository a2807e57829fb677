"""DICOM JSON (PS3.18 Annex F) through pydicom, with BulkDataURI for binary attributes.

The stored JSON names bulk data ``bulkdata:<path>`` where ``<path>`` is the tag path
(``7FE00010`` at the top level, ``00540016/0/00181072`` inside a sequence item). WADO replaces
the ``bulkdata:`` prefix with the instance's absolute URL + ``/bulkdata/`` (decisions §5).
"""
from __future__ import annotations

import json
import json.encoder
from typing import Any, Iterable

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from .tags import BINARY_VRS, tag_path

BULKDATA_SCHEME = "bulkdata:"
#: Elements larger than this are deferred by dcmread and never loaded for the JSON.
DEFER_SIZE = 64 * 1024


def _index_bulk_paths(ds: Dataset, prefix: str, paths: dict[int, str],
                      skip: set[int]) -> None:
    for tag in list(ds.keys()):
        if prefix == "" and int(tag) in skip:
            continue
        elem = ds[tag]
        path = f"{prefix}{tag_path(tag)}"
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value or []):
                _index_bulk_paths(item, f"{path}/{index}/", paths, skip)
        elif elem.VR in BINARY_VRS:
            paths[id(elem)] = path


def to_dicom_json(ds: Dataset, exclude: Iterable[int] = ()) -> dict[str, Any]:
    """The DICOM JSON of a dataset, with ``exclude`` tags (top level) left out.

    Large binary elements that dcmread deferred are emitted as BulkDataURI without reading them.
    """
    excluded = {int(t) for t in exclude}
    deferred: list[tuple[int, str]] = []
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.value is None and raw.length:
            deferred.append((int(tag), str(raw.VR or "UN")))
            excluded.add(int(tag))
    view = Dataset()
    for tag in ds.keys():
        if int(tag) not in excluded:
            view[tag] = ds[tag]  # same DataElement objects: ids below stay valid
    paths: dict[int, str] = {}
    _index_bulk_paths(view, "", paths, set())

    def handler(elem: DataElement) -> str:
        return BULKDATA_SCHEME + paths.get(id(elem), tag_path(elem.tag))

    result = view.to_json_dict(bulk_data_threshold=0, bulk_data_element_handler=handler)
    for tag, vr in deferred:
        if tag in {int(t) for t in exclude}:
            continue
        result[tag_path(tag)] = {"vr": vr, "BulkDataURI": BULKDATA_SCHEME + tag_path(tag)}
    return dict(sorted(result.items()))


def add_bulkdata_element(result: dict[str, Any], tag: int, vr: str) -> None:
    """Add a bulk-data reference for an element that was not read (e.g. PixelData)."""
    result[tag_path(tag)] = {"vr": vr, "BulkDataURI": BULKDATA_SCHEME + tag_path(tag)}


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
#: The C encoder ``_ENCODER.encode`` would build anew on every call (about 3 us, which QIDO
#: pays per returned stored attribute); None where the C accelerator is missing. No circular
#: reference check: the values are trees (parsed JSON, built datasets).
_C_ENCODE = None if json.encoder.c_make_encoder is None else json.encoder.c_make_encoder(
    None, _ENCODER.default, json.encoder.encode_basestring,  # type: ignore[attr-defined]
    None, ":", ",", False, False, True)


def dumps(value: Any) -> str:
    """Compact JSON text, as stored and served (exactly ``json.dumps(value, separators=(",",
    ":"), ensure_ascii=False)``, without building an encoder per call)."""
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def with_bulkdata_base(dataset_json: str, instance_url: str) -> str:
    """Resolve stored ``bulkdata:`` references against the instance's absolute URL."""
    return dataset_json.replace(f'"{BULKDATA_SCHEME}', f'"{instance_url}/bulkdata/')
