"""Where an export writes (reference-2.md §3.3, decisions "Export"): instead of the reference's
Azure Blob container, a folder under the operator's export root (``filesystem``) or an S3
bucket (``s3``).

Every destination lays its files out as the reference does: ``<operationId>/results/<study>/
<series>/<sop>.dcm`` and the errors log ``<operationId>/errors.log`` (JSON lines). A file is
written under a temporary name and renamed, so a reader (or a resumed export, which copies the
batch it had not checkpointed again) never sees half a file. Request settings name places only;
credentials and allowed places come from the server's configuration.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Mapping

from ..errors import ExportRequestError

CHUNK = 1024 * 1024
#: A UID as a path component: digits and dots (never '.' or '..': a UID ends with a digit).
_SAFE_UID = re.compile(r"[0-9.]*[0-9]")

FILESYSTEM_NOT_CONFIGURED = ("The filesystem export destination is not configured on this "
                             "server (DICOM_EXPORT_ROOT).")
PATH_DOTS = "The export path '{path}' must not contain '..'."
PATH_OUTSIDE = "The export path '{path}' is outside the export root."
PATH_NOT_FOLDER = "The export path '{path}' is not a folder."
WRITE_FAILED = "Failed to write to the export folder '{path}'."


class DestinationError(RuntimeError):
    """A destination refuses the export at run time (its place left the allowed ones): the
    operation fails at once instead of being retried."""


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """What the server's configuration allows exports to write to."""

    root: str = ""  # DICOM_EXPORT_ROOT: the filesystem destination's root ("": none)
    fsync: bool = True
    s3_buckets: tuple[str, ...] = ()  # DICOM_EXPORT_S3_BUCKETS ("*": any; none: no s3)
    s3_endpoint_urls: tuple[str, ...] = ()  # the first is the default; none: AWS's
    s3_region: str = ""
    s3_access_key_id: str = ""  # empty: boto3's standard credential chain
    s3_secret_access_key: str = ""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "ExportSettings":
        def names(key: str) -> tuple[str, ...]:
            return tuple(n.strip() for n in str(config[key] or "").split(",") if n.strip())
        return cls(root=str(config["EXPORT_ROOT"] or ""), fsync=bool(config["FSYNC"]),
                   s3_buckets=names("EXPORT_S3_BUCKETS"),
                   s3_endpoint_urls=names("EXPORT_S3_ENDPOINT_URLS"),
                   s3_region=str(config["EXPORT_S3_REGION"] or ""),
                   s3_access_key_id=str(config["EXPORT_S3_ACCESS_KEY_ID"] or ""),
                   s3_secret_access_key=str(config["EXPORT_S3_SECRET_ACCESS_KEY"] or ""))


def error_entry(identifier: str, error: str) -> str:
    """One line of the errors log, with the reference's fields (reference-2.md §3.3)."""
    return json.dumps({"timestamp": datetime.now(timezone.utc).isoformat(),
                       "identifier": identifier, "error": error}) + "\n"


def result_name(study: str, series: str, sop: str) -> str:
    """``results/<study>/<series>/<sop>.dcm``; ValueError for UIDs unsafe in a path."""
    for uid in (study, series, sop):
        if not _SAFE_UID.fullmatch(uid):
            raise ValueError(f"The UID '{uid}' cannot be used as a file name.")
    return f"results/{study}/{series}/{sop}.dcm"


class Destination:
    """Interface of an export destination, for one operation."""

    #: The ``type`` in the request and in the operation's payload.
    kind = ""

    def payload(self) -> dict[str, Any]:
        """What a worker needs to open this destination again (no secrets)."""
        raise NotImplementedError

    @property
    def error_href(self) -> str:
        """Where the errors log is (the operation's ``results.errorHref``)."""
        raise NotImplementedError

    def prepare(self) -> None:
        """At request time: check the place can be written and create the errors log
        (ExportRequestError when it cannot)."""
        raise NotImplementedError

    def write(self, name: str, source: BinaryIO) -> None:
        """Copy ``source`` to ``<operationId>/<name>`` in chunks, replacing it whole."""
        raise NotImplementedError

    def append_errors(self, lines: list[str], batch: int) -> None:
        """Add the lines of checkpoint number ``batch`` to the errors log (a batch run again
        after a crash may add its lines again or replace them)."""
        raise NotImplementedError

    def sync(self) -> None:
        """Make what was written so far durable (before a checkpoint records it)."""

    @classmethod
    def from_request(cls, settings: ExportSettings, options: dict[str, Any],
                     operation_id: str) -> "Destination":
        """The destination a request's ``destination.settings`` name (ExportRequestError when
        the configuration does not allow it)."""
        raise NotImplementedError

    @classmethod
    def from_payload(cls, settings: ExportSettings, payload: dict[str, Any],
                     operation_id: str) -> "Destination":
        """The destination an operation recorded (DestinationError when the configuration no
        longer allows it)."""
        raise NotImplementedError

    def finish(self, resumed: bool) -> None:
        """At the end; ``resumed``: an earlier run was cut off (clean up what it left)."""


# --- filesystem -------------------------------------------------------------------------------

def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


def _path_max(root: str) -> int:
    """The file system's longest path (``PC_PATH_MAX``) at ``root``; Linux's when unknown."""
    try:
        return os.pathconf(root, "PC_PATH_MAX")
    except (OSError, ValueError):
        return 4096


def resolve_folder(root: str, path: str) -> str:
    """The real path of ``path`` (relative to ``root``, or absolute) if it lies inside
    ``root`` once every symbolic link is followed; ExportRequestError otherwise."""
    if not root:
        raise ExportRequestError(FILESYSTEM_NOT_CONFIGURED)
    if "\x00" in path:
        raise ExportRequestError(PATH_OUTSIDE.format(path=path.replace("\x00", "")))
    if ".." in re.split(r"[\\/]", path):
        raise ExportRequestError(PATH_DOTS.format(path=path))
    real_root = os.path.realpath(root)
    # Without its "." and empty components (no ".." is left): realpath's work grows with the
    # square of the number of components (a 2 MB path took 77 s), normpath's does not.
    joined = os.path.normpath(os.path.join(real_root, path))
    try:
        length = len(os.fsencode(joined))
    except UnicodeEncodeError:  # a lone surrogate no file name can hold (was a 500)
        shown = path.encode("utf-8", "replace").decode("utf-8")
        raise ExportRequestError(WRITE_FAILED.format(path=shown)) from None
    if length >= _path_max(real_root):  # too long for any folder: prepare() would refuse it
        raise ExportRequestError(WRITE_FAILED.format(path=path))
    folder = os.path.realpath(joined)
    if not _inside(real_root, folder):
        raise ExportRequestError(PATH_OUTSIDE.format(path=path))
    return folder


def make_folders(folder: str) -> None:
    """``os.makedirs(folder, exist_ok=True)`` without its recursion: it calls itself once per
    missing level, so a request naming a folder a thousand levels deep ended in a
    RecursionError (a 500). A component that is a file raises FileExistsError, as there."""
    missing = []
    while not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                raise


class FileSystemDestination(Destination):
    """A folder under the export root; the operation's files go to ``<folder>/<operationId>``."""

    kind = "filesystem"

    def __init__(self, settings: ExportSettings, path: str, folder: str,
                 operation_id: str) -> None:
        self.settings, self.path, self.folder = settings, path, folder
        self.operation_id = operation_id
        self.base = os.path.join(folder, operation_id)
        self._dirty: set[str] = set()
        self._token = uuid.uuid4().hex[:12]

    @classmethod
    def from_request(cls, settings: ExportSettings, options: dict[str, Any],
                     operation_id: str) -> "FileSystemDestination":
        path = options.get("path", "")
        return cls(settings, path, resolve_folder(settings.root, path), operation_id)

    @classmethod
    def from_payload(cls, settings: ExportSettings, payload: dict[str, Any],
                     operation_id: str) -> "FileSystemDestination":
        destination = cls(settings, payload["path"], payload["folder"], operation_id)
        destination.check()
        return destination

    def payload(self) -> dict[str, Any]:
        return {"type": self.kind, "path": self.path, "folder": self.folder}

    @property
    def error_href(self) -> str:
        return Path(self.base, "errors.log").as_uri()

    def check(self) -> None:
        """The folder must still lie inside the (possibly reconfigured) root."""
        if not self.settings.root:
            raise DestinationError(FILESYSTEM_NOT_CONFIGURED)
        real_root = os.path.realpath(self.settings.root)
        if not _inside(real_root, os.path.realpath(self.folder)):
            raise DestinationError(PATH_OUTSIDE.format(path=self.path))

    def prepare(self) -> None:
        try:
            if len(os.fsencode(self.base)) >= _path_max(self.settings.root):
                raise OSError("path too long")  # refused before any folder of it is made
            make_folders(self.folder)
            # Followed links are resolved again: nothing may have led the folder elsewhere.
            if not _inside(os.path.realpath(self.settings.root), os.path.realpath(self.folder)):
                raise ExportRequestError(PATH_OUTSIDE.format(path=self.path))
            os.makedirs(self.base, exist_ok=True)
            with open(os.path.join(self.base, "errors.log"), "ab"):
                pass
        except FileExistsError:
            raise ExportRequestError(PATH_NOT_FOLDER.format(path=self.path)) from None
        except NotADirectoryError:
            raise ExportRequestError(PATH_NOT_FOLDER.format(path=self.path)) from None
        except OSError:
            raise ExportRequestError(WRITE_FAILED.format(path=self.path)) from None

    def write(self, name: str, source: BinaryIO) -> None:
        target = os.path.join(self.base, name)
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
        # A name of this run's own: a worker that lost its lease never writes into the file
        # the new owner is writing.
        temporary = f"{target}.{self._token}.part"
        try:
            with open(temporary, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
                if self.settings.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        self._dirty.add(directory)

    def append_errors(self, lines: list[str], batch: int) -> None:
        if not lines:
            return
        data = "".join(lines).encode()
        descriptor = os.open(os.path.join(self.base, "errors.log"),
                             os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # One write of whole lines: a crash never leaves half a line behind.
            os.write(descriptor, data)
            if self.settings.fsync:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def sync(self) -> None:
        if self.settings.fsync:
            for directory in sorted(self._dirty):
                descriptor = os.open(directory, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
        self._dirty.clear()

    def finish(self, resumed: bool) -> None:
        if not resumed:
            return
        # A run that was killed may have left its temporary files behind.
        for directory, _, files in os.walk(os.path.join(self.base, "results")):
            for name in files:
                if name.endswith(".part"):
                    try:
                        os.unlink(os.path.join(directory, name))
                    except FileNotFoundError:
                        pass
