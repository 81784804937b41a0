"""A gRPC call made for a page: off the event loop, its failure turned into what a person reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import grpc
from starlette.concurrency import run_in_threadpool

from credverify.web.app import PageError

T = TypeVar("T")

# What each gRPC status means for the person at the desk, and the HTTP status of the page.
_BY_CODE = {
    grpc.StatusCode.NOT_FOUND: (404, "error.grpc.not_found"),
    grpc.StatusCode.INVALID_ARGUMENT: (400, "error.grpc.invalid"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "error.grpc.precondition"),
    grpc.StatusCode.PERMISSION_DENIED: (502, "error.grpc.denied"),
    grpc.StatusCode.UNAVAILABLE: (503, "error.grpc.unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "error.grpc.unavailable"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (503, "error.grpc.unavailable"),
}


def page_error_of(service: str, exc: grpc.RpcError) -> PageError:
    code = exc.code()
    detail = str(exc.details() or "")
    status, message_id = _BY_CODE.get(code, (502, "error.grpc.other"))
    # The services' details never carry personal data; they say what was expected and found.
    return PageError(status, message_id, "%s answered %s: %s" % (service, code.name, detail[:300]),
                     service=service, detail=detail[:300])


async def call(service: str, function: Callable[..., T], *args: object) -> T:
    """Return ``function(*args)`` run in a worker thread. Raises PageError for a gRPC failure."""
    try:
        return await run_in_threadpool(function, *args)
    except grpc.RpcError as exc:
        raise page_error_of(service, exc) from exc
