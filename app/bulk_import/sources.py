"""What to import: files under folders (recursively, any name), single files, zip archives'
members; and batches of them (small files together, a large one alone)."""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

#: A Part-10 file: 128-byte preamble, then ``DICM``.
PREAMBLE = 128
MAGIC = b"DICM"


@dataclass(frozen=True)
class Item:
    """One file to import: a path, or ``archive.zip!member``."""

    name: str
    size: int
    read: Callable[[], bytes]


def is_part10(data: bytes) -> bool:
    return data[PREAMBLE:PREAMBLE + 4] == MAGIC


def _file(path: Path, size: int) -> Item:
    return Item(str(path), size, path.read_bytes)


def _members(archive: Path) -> Iterator[Item]:
    # Kept open for the run: ZipFile reads members under its own lock, from any thread.
    opened = zipfile.ZipFile(archive)
    for info in opened.infolist():
        if not info.is_dir():
            yield Item(f"{archive}!{info.filename}", info.file_size,
                       lambda info=info: opened.read(info))


def _expand(path: Path) -> Iterator[Item]:
    size = path.stat().st_size
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        yield from _members(path)
    else:
        yield _file(path, size)


def find_items(paths: Iterable[str | os.PathLike[str]]) -> list[Item]:
    """Every file under ``paths`` (folders recursively, in name order; zip archives by
    member). Unreadable folders are skipped; a path that does not exist raises."""
    items: list[Item] = []
    for root in map(Path, paths):
        if not root.exists():
            raise FileNotFoundError(f"No such file or folder: {root}")
        if root.is_dir():
            for folder, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(files):
                    path = Path(folder, name)
                    if path.is_file():
                        items.extend(_expand(path))
        else:
            items.extend(_expand(root))
    return items


def batches(items: Iterable[Item], max_files: int, max_bytes: int) -> Iterator[list[Item]]:
    """Consecutive items grouped up to ``max_files`` and ``max_bytes`` (a larger file alone)."""
    batch: list[Item] = []
    size = 0
    for item in items:
        if batch and (len(batch) >= max_files or size + item.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch
