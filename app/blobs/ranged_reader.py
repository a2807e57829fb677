"""A seekable read handle on an object store's blob, read by ranged GETs (issue #17): what
pydicom needs to parse a header or find a frame without downloading the whole object."""
from __future__ import annotations

import io
from typing import Any, BinaryIO, Callable

#: The read buffer of a seekable handle (header parsing reads through it; a larger read, such
#: as a frame, is one ranged GET of exactly its bytes).
SEEKABLE_BUFFER = 64 * 1024


class RangedReader(io.RawIOBase):
    """A seekable read handle on an object: a read inside the last window is served from it;
    a small read fetches a ``SEEKABLE_BUFFER`` window from its position, a larger one (a frame)
    exactly its own bytes, each one ranged GET. Not an io.BufferedReader: pydicom would take
    that for a local file and reopen it by name."""

    def __init__(self, open_range: Callable[[str, int, int], BinaryIO], key: str,
                 size: int) -> None:
        self.open_range, self.key, self.length, self.position = open_range, key, size, 0
        self._window_start, self._window = 0, b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def _fetch(self, start: int, count: int) -> bytes:
        with self.open_range(self.key, start, count) as body:
            return body.read()

    def _bytes(self, count: int, advance: bool) -> bytes:
        count = min(count, self.length - self.position)
        if count <= 0:
            return b""
        offset = self.position - self._window_start
        if 0 <= offset and offset + count <= len(self._window):
            data = self._window[offset:offset + count]
        elif count >= SEEKABLE_BUFFER:
            data = self._fetch(self.position, count)
        else:
            self._window_start = self.position
            self._window = self._fetch(self.position,
                                       min(SEEKABLE_BUFFER, self.length - self.position))
            data = self._window[:count]
        if advance:
            self.position += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.length - self.position
        return self._bytes(size, advance=True)

    def peek(self, size: int = 1) -> bytes:
        return self._bytes(max(size, 1), advance=False)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[:len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read()
