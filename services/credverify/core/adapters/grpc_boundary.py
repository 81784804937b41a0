"""Where an RPC's failure becomes a gRPC status: one mapping for every credverify service.

A malformed request is INVALID_ARGUMENT (NOT_FOUND when it names something that does
not exist), a refused caller PERMISSION_DENIED, a missing precondition (e.g. no key
that may sign) FAILED_PRECONDITION, a record the hub did not confirm UNAVAILABLE;
``Refused`` carries any other deliberate status. Anything else is INTERNAL with a
generic message and the traceback in the log.
"""

from __future__ import annotations

import logging

import grpc

from credverify.core.adapters.grpc_security import AccessDenied
from credverify.core.errors import ConfigurationError, DeliveryFailed, InvalidInput, NotFound

logger = logging.getLogger(__name__)


class Refused(Exception):
    """A deliberate refusal with its gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class RpcBoundary:
    """``with RpcBoundary(context, "Verify", service="registry"):`` around an RPC's body; the only
    place that calls ``context.abort``."""

    def __init__(self, context: grpc.ServicerContext, rpc: str, *, service: str) -> None:
        self._context = context
        self._rpc = rpc
        self._service = service

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or exc_type is None:
            return
        if isinstance(exc, Refused):
            self._context.abort(exc.code, str(exc))
        if isinstance(exc, NotFound):
            self._context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        if isinstance(exc, InvalidInput):
            self._context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if isinstance(exc, AccessDenied):
            logger.warning("%s refused: %s", self._rpc, exc)
            self._context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        if isinstance(exc, ConfigurationError):
            self._context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        if isinstance(exc, DeliveryFailed):
            logger.warning("%s: %s", self._rpc, exc)
            self._context.abort(grpc.StatusCode.UNAVAILABLE, "the hub did not confirm the record; retry the call")
        if isinstance(exc, Exception):
            logger.error("%s failed", self._rpc, exc_info=(exc_type, exc, tb))  # type: ignore[arg-type]
            self._context.abort(grpc.StatusCode.INTERNAL, "internal error; the %s logged the details" % self._service)
