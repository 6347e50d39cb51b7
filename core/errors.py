"""One hierarchy of application errors with stable codes.

Services raise these; the DRF exception handler (core.api) and the web views render them
the same way: `{"error": {"code", "message", "fields"}}` with the status below.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID = "invalid"
    MALFORMED_REQUEST = "malformed_request"
    NOT_AUTHENTICATED = "not_authenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INVALID_TRANSITION = "invalid_transition"
    CONFLICT = "conflict"
    THROTTLED = "throttled"
    FOUR_EYES_REQUIRED = "four_eyes_required"
    TOO_MANY_EVENTS = "too_many_events"
    REQUEST_TOO_LARGE = "request_too_large"
    SERVER_ERROR = "server_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    # Statement inquiries (revenue.services.inquiries).
    STATEMENT_NOT_IN_REVIEW = "statement_not_in_review"
    INQUIRY_WINDOW_CLOSED = "inquiry_window_closed"
    INQUIRY_OPEN = "inquiry_open"
    INQUIRY_DUPLICATE = "inquiry_duplicate"
    INQUIRY_NOT_OPEN = "inquiry_not_open"
    ATTACHMENT_INVALID = "attachment_invalid"
    ATTACHMENT_TOO_LARGE = "attachment_too_large"


class ApplicationError(Exception):
    code: ErrorCode = ErrorCode.INVALID
    status: int = 400

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        code: ErrorCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": str(self.code), "message": self.message, "fields": self.fields}}


class ValidationFailed(ApplicationError):
    code = ErrorCode.INVALID
    status = 400


class PermissionDenied(ApplicationError):
    code = ErrorCode.PERMISSION_DENIED
    status = 403


class NotFound(ApplicationError):
    code = ErrorCode.NOT_FOUND
    status = 404


class InvalidTransition(ApplicationError):
    """The object is not in a state that allows this action (e.g. approving an ended
    placement)."""

    code = ErrorCode.INVALID_TRANSITION
    status = 409


class Conflict(ApplicationError):
    code = ErrorCode.CONFLICT
    status = 409


class FourEyesRequired(PermissionDenied):
    """Money above settings.FOUR_EYES_THRESHOLD needs a second person: the one who prepared
    it (submitted the statement, approved what a payout pays) may not also release it."""

    code = ErrorCode.FOUR_EYES_REQUIRED
    status = 403
