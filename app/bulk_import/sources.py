"""What to import: files under folders (recursively, any name), single files, zip archives'
members; and batches of them (small files together, a large one alone).

Items are produced lazily (a folder of a million files is never held as a list) and read as
streams (a zip member that expands to gigabytes is never held in memory). Inside a folder a
symbolic link is not followed, and anything that cannot be listed or opened (a folder without
permission, a corrupt archive, a FIFO) becomes an item with a ``problem``: counted as failed,
never an exception that ends the run.
"""
from __future__ import annotations

import os
import stat
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

#: A Part-10 file: 128-byte preamble, then ``DICM``.
PREAMBLE = 128
MAGIC = b"DICM"
HEAD = PREAMBLE + len(MAGIC)
#: Zip archives kept open at once (reopening one parses its central directory again).
OPEN_ARCHIVES = 16
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@dataclass(frozen=True)
class Item:
    """One file to import: a path, or ``archive.zip!member``; ``open`` gives its bytes as a
    stream. ``problem``: why it cannot be imported at all (then ``open`` is not called)."""

    name: str
    size: int
    open: Callable[[], BinaryIO]
    problem: str | None = None


def is_part10(data: bytes) -> bool:
    return data[PREAMBLE:PREAMBLE + 4] == MAGIC


def _unopenable() -> BinaryIO:
    raise OSError("not openable")


def _problem(path: Path, reason: str) -> Item:
    return Item(str(path), 0, _unopenable, reason)


def _opener(path: Path, follow: bool) -> Callable[[], BinaryIO]:
    flags = os.O_RDONLY | (0 if follow else _NOFOLLOW)
    return lambda: os.fdopen(os.open(path, flags), "rb")


class _Archives:
    """Open zip archives shared by the workers, the most recently used few kept open. A
    member being read keeps its archive's file open even once the archive is closed here."""

    def __init__(self) -> None:
        self._open: OrderedDict[Path, zipfile.ZipFile] = OrderedDict()
        self._lock = threading.Lock()

    def member(self, archive: Path, info: zipfile.ZipInfo) -> BinaryIO:
        if info.flag_bits & 0x1:
            raise OSError("encrypted zip member (not supported)")
        with self._lock:
            opened = self._open.pop(archive, None) or zipfile.ZipFile(archive)
            self._open[archive] = opened
            while len(self._open) > OPEN_ARCHIVES:
                self._open.popitem(last=False)[1].close()
            return opened.open(info)  # type: ignore[return-value]


def _members(archive: Path, archives: _Archives) -> Iterator[Item]:
    try:
        with zipfile.ZipFile(archive) as opened:
            infos = opened.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as exc:
        yield _problem(archive, f"unreadable zip archive: {exc}")
        return
    for info in infos:
        if not info.is_dir():
            yield Item(f"{archive}!{info.filename}", info.file_size,
                       lambda info=info: archives.member(archive, info))


def _expand(path: Path, size: int, follow: bool, archives: _Archives) -> Iterator[Item]:
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        yield from _members(path, archives)
    else:
        yield Item(str(path), size, _opener(path, follow))


def _walk(root: Path, archives: _Archives) -> Iterator[Item]:
    """``root`` (followed if it is a link: it was named) and, for a folder, everything under
    it in name order, depth first, without following links."""
    stack: list[Iterator[Path]] = [iter([root])]
    while stack:
        path = next(stack[-1], None)
        if path is None:
            stack.pop()
            continue
        follow = len(stack) == 1
        try:
            info = path.stat() if follow else path.lstat()
        except OSError as exc:
            yield _problem(path, f"unreadable: {exc.strerror or exc}")
            continue
        if stat.S_ISLNK(info.st_mode):
            yield _problem(path, "symbolic link: not followed")
        elif stat.S_ISDIR(info.st_mode):
            try:
                names = sorted(os.listdir(path))
            except OSError as exc:
                yield _problem(path, f"unreadable folder: {exc.strerror or exc}")
                continue
            stack.append(map(path.joinpath, names))
        elif stat.S_ISREG(info.st_mode):
            yield from _expand(path, info.st_size, follow, archives)
        else:
            yield _problem(path, "not a regular file")


def find_items(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Item]:
    """Every file under ``paths`` (folders recursively, in name order; zip archives by
    member), lazily; a path that does not exist raises when it is reached."""
    archives = _Archives()
    for root in map(Path, paths):
        if not os.path.lexists(root):
            raise FileNotFoundError(f"No such file or folder: {root}")
        yield from _walk(root, archives)


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
