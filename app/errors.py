"""One exception hierarchy: every error the API reports, with its HTTP status and text.

Messages are the reference server's exact texts (reference.md §0.1 and the feature sections).
Exception classes only: ``app/api/errors.py`` maps them to plain-text HTTP responses.
"""
from __future__ import annotations

INTERNAL_ERROR_MESSAGE = (
    "The server encountered an internal error. Please retry the request. "
    "If the issue persists, please contact support."
)


class DicomServerError(Exception):
    """Base of every error the API reports; ``status`` is the HTTP status code."""

    status = 503  # the reference maps unknown DicomServerExceptions to 503
    message = "The service is unavailable."

    def __init__(self, message: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message or self.message)
        self.text = message or self.message
        self.headers = headers or {}


class BadRequestError(DicomServerError):
    status = 400
    message = "The request is invalid."


#: A JSON body that does not parse or bind (reference.md §0.1: JsonException).
BODY_SYNTAX_INVALID = "The syntax of the request body is invalid."


class InvalidIdentifierError(BadRequestError):
    """A UID in the path or payload is not a valid DICOM UID."""


class InvalidQueryStringError(BadRequestError):
    """A query parameter is invalid."""


class InvalidPartitionNameError(BadRequestError):
    message = "The specified PartitionName is invalid. "


class DataPartitionsFeatureDisabledError(BadRequestError):
    message = "Data partitions feature is disabled."


class DataPartitionsMissingPartitionError(BadRequestError):
    message = "PartitionName value is missing in the route segment."


class DataPartitionsNotFoundError(BadRequestError):
    """Unknown partition on a read or delete: 400 in the reference, not 404."""

    message = "Specified PartitionName does not exist."


class DefaultPartitionUnchangeableError(BadRequestError):
    """Ours (issue #20): the default partition cannot be renamed or deleted."""

    def __init__(self, change: str) -> None:
        super().__init__(f"The default partition 'Microsoft.Default' cannot be {change}.")


class PartitionUpdateInvalidError(BadRequestError):
    """Ours (issue #20): a PATCH /partitions/{name} body that does not validate."""


class InvalidMultipartRequestError(BadRequestError):
    message = "The multipart request is invalid."


class ResourceNotFoundError(DicomServerError):
    status = 404
    message = "The specified resource cannot be found."


class StudyNotFoundError(ResourceNotFoundError):
    message = "The specified study cannot be found."


class SeriesNotFoundError(ResourceNotFoundError):
    message = "The specified series cannot be found."


class InstanceNotFoundError(ResourceNotFoundError):
    message = "The specified instance cannot be found."


class FrameNotFoundError(ResourceNotFoundError):
    message = "The specified frame cannot be found."


class ConflictError(DicomServerError):
    status = 409
    message = "The resource already exists."


class InstanceAlreadyExistsError(ConflictError):
    message = "The specified instance already exists."


class PartitionBeingDeletedError(ConflictError):
    """Ours (issue #20): a store into, or a change of, a partition being deleted."""

    def __init__(self, name: str) -> None:
        super().__init__(f"The partition '{name}' is being deleted.")


class PartitionAlreadyExistsError(ConflictError):
    """Ours (issue #20): a rename to a name another partition has (in any case)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"A partition named '{name}' already exists.")


class NotAcceptableError(DicomServerError):
    status = 406
    message = "The request headers are not acceptable"


class AcceptFilterError(NotAcceptableError):
    """The Accept filter short-circuits (STOW, QIDO, metadata, workitems): 406 with an empty body
    (reference.md §0.1)."""

    message = ""


class PayloadTooLargeError(DicomServerError):
    status = 413

    def __init__(self, limit: int, unit: str = "bytes"):
        super().__init__(f"The request exceeded the allowed limit of {limit} {unit}.")


class UnsupportedMediaTypeError(DicomServerError):
    status = 415

    def __init__(self, content_type: str | None = None, message: str | None = None):
        super().__init__(
            message or f"The specified content type '{content_type or ''}' is not supported.")


class DataStoreError(DicomServerError):
    """The database failed (driver OperationalError and the like)."""

    status = 503
    message = "The data store is unavailable."


class ObjectStoreError(DataStoreError):
    """The object store of the S3 blob backend failed: unreachable, 5xx, throttled, refused
    credentials, missing bucket (issue #17). The text says what failed; nothing was stored.
    ``throttled``: it asked us to slow down (after botocore's retries): its own text, and a
    Retry-After."""

    message = "The object store is unavailable."
    throttled_message = "The object store is throttling requests (SlowDown); try again later."
    retry_after_seconds = 5

    def __init__(self, reason: str | None = None, throttled: bool = False) -> None:
        if throttled:
            super().__init__(self.throttled_message,
                             {"Retry-After": str(self.retry_after_seconds)})
        else:
            super().__init__(self.message)
        self.reason = reason or ""
        self.throttled = throttled

    def __str__(self) -> str:
        return f"{self.text} {self.reason}".strip()


class BlobNotFoundError(DicomServerError):
    """A stored file is missing from the blob store: reported as a generic 500."""

    status = 500
    message = INTERNAL_ERROR_MESSAGE


# --- Extended query tags and operations (reference.md §8, §9) ---------------------------------

class ExtendedQueryTagEntryValidationError(BadRequestError):
    """An entry of an add request (or a PATCH body) is invalid."""


class InvalidExtendedQueryTagPathError(BadRequestError):
    def __init__(self, path: str):
        super().__init__(f"The extended query tag '{path}' is invalid as it cannot be parsed "
                         "into a valid Dicom Tag.")


class ExtendedQueryTagNotFoundError(ResourceNotFoundError):
    def __init__(self, path: str):
        super().__init__(
            f"The specified extended query tag with tag path {path} cannot be found.")


class ExtendedQueryTagBusyError(BadRequestError):
    def __init__(self, path: str):
        super().__init__(f"The extended query tag '{path}' is being processed.")


class ExtendedQueryTagsAlreadyExistsError(ConflictError):
    message = "One or more extended query tags already exist."


class ExtendedQueryTagsExceedsMaxAllowedCountError(DicomServerError):
    """503, as in the reference (an unmapped DicomServerException)."""

    def __init__(self, max_count: int):
        super().__init__(f"Extended query tags exceeds max allowed count '{max_count}'.")


class ExistingOperationError(ConflictError):
    """Another operation of the same type is active; the view adds its ``Location``."""

    def __init__(self, operation_id: str, operation_type: str = "re-index"):
        super().__init__(f"There is already an active {operation_type} operation with ID "
                         f"'{operation_id}'.")
        self.operation_id = operation_id


class OperationNotFoundError(ResourceNotFoundError):
    """Unknown operation id: 404 with an empty body, as in the reference."""

    message = ""


class EmptyUnsupportedMediaTypeError(DicomServerError):
    """The reference's ``[Consumes]`` filter: 415 with an empty body."""

    status = 415
    message = ""


# --- Export (reference-2.md §3) ---------------------------------------------------------------

class ExportDisabledError(ResourceNotFoundError):
    """Export is off (``DICOM_ENABLE_EXPORT``): 404 with an empty body, as in the reference."""

    message = ""


class ExportRequestError(BadRequestError):
    """An export body or destination the server refuses (the reference's texts where it has
    them, ours for the destinations it does not have)."""


# --- UPS-RS workitems (reference-2.md §1) ------------------------------------------------------

class WorkitemStatusError(DicomServerError):
    """A workitem transaction's status result (not an exception in the reference): its body is
    a JSON string or plain text and may carry a ``Warning`` header, depending on the transaction
    (reference-2.md §1.2); the workitems blueprint writes it."""

    def __init__(self, status: int, message: str, warning: bool = False):
        super().__init__(message)
        self.status = status
        self.warning = warning


# --- Security (issue #16) -------------------------------------------------------------------

class AuthenticationRequiredError(DicomServerError):
    """No valid bearer token: 401 with an empty body; the raiser adds ``WWW-Authenticate``."""

    status = 401
    message = ""


class ForbiddenActionError(DicomServerError):
    """The caller lacks the data action (or the partition scope): the reference's 403 text."""

    status = 403
    message = "Authorization failed."
