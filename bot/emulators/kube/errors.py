"""Kubernetes ``Status`` errors, shaped like the real API server's."""

from __future__ import annotations

import json
from typing import Any

JSON = dict[str, Any]

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def reason_for(code: int) -> str:
    return _REASONS.get(code, "Unknown")


class ApiError(Exception):
    """An error answer from the emulated API server (a ``Status`` object)."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: JSON | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or reason_for(code)
        self.details: JSON = details if details is not None else {}
        self.headers: dict[str, str] = headers or {}

    def status(self) -> JSON:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def qualified(group: str, resource: str) -> str:
    """``deployments.apps`` / ``pods``: how the API server names a resource in messages."""
    return f"{resource}.{group}" if group else resource


def _details(name: str | None, group: str, kind: str) -> JSON:
    details: JSON = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    return details


def not_found(group: str, resource: str, name: str) -> ApiError:
    return ApiError(
        404,
        f'{qualified(group, resource)} "{name}" not found',
        details=_details(name, group, resource),
    )


def already_exists(group: str, resource: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{qualified(group, resource)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(name, group, resource),
    )


CONFLICT_MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def conflict(group: str, resource: str, name: str, why: str = CONFLICT_MODIFIED) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(group, resource)} "{name}": {why}',
        details=_details(name, group, resource),
    )


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


class FieldError:
    """One ``field.Error`` of a validation failure."""

    def __init__(self, field: str, kind: str, detail: str = "", value: Any = None) -> None:
        self.field = field
        self.kind = kind  # "Invalid" | "Required" | "Unsupported"
        self.detail = detail
        self.value = value

    def body(self) -> str:
        if self.kind == "Required":
            return "Required value" + (f": {self.detail}" if self.detail else "")
        text = f"{self.kind} value: {format_value(self.value)}"
        return text + (f": {self.detail}" if self.detail else "")

    def cause(self) -> JSON:
        return {"reason": f"FieldValue{self.kind}", "message": self.body(), "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def invalid(group: str, kind: str, name: str, errors: list[FieldError]) -> ApiError:
    qualified_kind = f"{kind}.{group}" if group else kind
    text = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(map(str, errors)) + "]"
    details = _details(name, group, kind)
    details["causes"] = [error.cause() for error in errors]
    return ApiError(422, f'{qualified_kind} "{name}" is invalid: {text}', details=details)


def forbidden(
    *,
    user: str,
    verb: str,
    group: str,
    resource: str,
    subresource: str | None,
    namespace: str | None,
    name: str | None,
) -> ApiError:
    target = qualified(group, resource) + (f' "{name}"' if name else "")
    full = f"{resource}/{subresource}" if subresource else resource
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{target} is forbidden: User "{user}" cannot {verb} resource "{full}" '
        f'in API group "{group}" {scope}'
    )
    return ApiError(403, message, details=_details(name, group, resource))


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def path_not_found() -> ApiError:
    return ApiError(404, "the server could not find the requested resource")


def method_not_allowed() -> ApiError:
    return ApiError(405, "the server does not allow this method on the requested resource")


def unsupported_media_type(content_type: str) -> ApiError:
    accepted = (
        "application/json-patch+json, application/merge-patch+json, "
        "application/apply-patch+yaml, application/strategic-merge-patch+json"
    )
    return ApiError(
        415,
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{accepted}",
        details={"kind": content_type} if content_type else {},
    )


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized")


def too_many_requests(retry_after: int, message: str | None = None) -> ApiError:
    """The answer of API priority and fairness shedding load: a ``Status`` with reason
    TooManyRequests and ``details.retryAfterSeconds``, and the ``Retry-After`` header
    (``apierrors.NewTooManyRequests``; the API server's error writer copies
    retryAfterSeconds into the header)."""
    return ApiError(
        429,
        message or "Too many requests, please try again later.",
        details={"retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def injected(
    code: int,
    message: str | None,
    *,
    group: str,
    resource: str,
    name: str | None,
    retry_after: int | None = None,
) -> ApiError:
    """An error chosen by a test with ``fail_next``; ``retry_after`` sets the
    ``Retry-After`` header (a 429 always has one: 1 s unless given)."""
    default = {
        400: "injected bad request",
        403: "",
        404: "",
        409: "",
        500: "Internal error occurred: injected fault",
        503: "the server is currently unable to handle the request",
        504: "Timeout: request did not complete within the allowed duration",
    }
    if code == 429:
        return too_many_requests(1 if retry_after is None else retry_after, message)
    if code == 409 and message is None:
        error = conflict(group, resource, name or "")
    elif code == 404 and message is None:
        error = not_found(group, resource, name or "")
    elif code == 403 and message is None:
        error = ApiError(
            403,
            f"{qualified(group, resource)} is forbidden: injected fault",
            details=_details(name, group, resource),
        )
    else:
        error = ApiError(code, message or default.get(code, f"injected fault ({code})"))
    if retry_after is not None:
        error.headers["Retry-After"] = str(retry_after)
    return error
