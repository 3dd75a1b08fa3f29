"""The one error type services raise; the API and pages translate it in one place.

Codes are stable strings that clients switch on. Every code a service can raise
is registered here with its HTTP status and a description, and the OpenAPI
schema lists them.
"""

import errno
from dataclasses import dataclass

ERROR_CODES: dict[str, tuple[int, str]] = {}


def register_code(code: str, status: int, description: str) -> str:
    existing = ERROR_CODES.get(code)
    if existing and existing[0] != status:
        raise ValueError(f"error code {code!r} registered twice with different statuses")
    # The first description stays, so the schema's list does not change with import order.
    ERROR_CODES.setdefault(code, (status, description))
    return code


# Codes the HTTP layer itself produces.
register_code("invalid_request", 400, "The request body or query failed validation; `fields` says where.")
register_code("malformed_request", 400, "The request body could not be parsed.")
register_code("period_reversed", 400, "The period's start (`since`) comes after its end (`until`).")
register_code("not_authenticated", 401, "Sign in or send a valid token.")
register_code("authentication_failed", 401, "The credentials were not accepted.")
register_code("permission_denied", 403, "Your role may not do this.")
register_code("not_found", 404, "No such object, or it is not yours.")
register_code("method_not_allowed", 405, "This method is not allowed here.")
register_code("not_acceptable", 406, "The requested representation is not available.")
register_code("unsupported_media_type", 415, "The request's content type is not accepted.")
register_code("throttled", 429, "Too many requests; retry later.")
register_code("storage_full", 507, "There is no room to store this now; nothing was kept. Try again later.")
register_code("server_error", 500, "Something failed on our side; nothing was changed.")


def is_storage_full(exc: BaseException) -> bool:
    """A write failed because the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass
class ServiceError(Exception):
    code: str
    message: str
    extra: dict | None = None

    def __post_init__(self) -> None:
        if self.code not in ERROR_CODES:
            raise ValueError(f"unregistered error code {self.code!r}")
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return ERROR_CODES[self.code][0]
