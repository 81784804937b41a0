"""An ASGI application served by uvicorn, in a thread of this process or in the calling thread: what the
pages (``web``) and the statistics portal (``portal``) each start, for the command line, the demo and
the tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import uvicorn

from credverify.core.adapters.observability import split_host_port
from credverify.core.errors import ConfigurationError

__all__ = ["ThreadedHttpServer"]

# Requests still running when the server is told to stop get this long to finish.
GRACEFUL_SHUTDOWN_S = 5
# How long ``stop`` waits for the serving thread: the graceful shutdown above, and then some.
STOP_JOIN_S = 15.0


class ThreadedHttpServer:
    """``app`` served by uvicorn on ``listen`` (host:port, port 0 for any free one): ``start()`` serves in a
    thread and returns once it listens (``url`` and ``port`` then say where), ``stop()`` ends it;
    ``serve_forever()`` serves in the calling thread until SIGTERM or SIGINT. HTTPS when ``tls_cert``
    and ``tls_key`` are given; ``proxy_headers`` trusts X-Forwarded-* from 127.0.0.1 (uvicorn's rule).
    ``what`` names the server in errors ("the pages")."""

    def __init__(self, app: Callable[..., Any], listen: str, *, what: str, thread_name: str, proxy_headers: bool,
                 tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
        host, port = split_host_port(listen)
        self.listen, self.what, self.port = listen, what, port
        self._host, self._tls = host, tls_cert is not None
        config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
                                server_header=False, proxy_headers=proxy_headers,
                                ssl_certfile=str(tls_cert) if tls_cert else None,
                                ssl_keyfile=str(tls_key) if tls_key else None,
                                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=thread_name, daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._server.serve())

    @property
    def url(self) -> str:
        """Where the server listens, as a browser would open it (a wildcard host shown as 127.0.0.1)."""
        shown = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        return "%s://%s:%d" % ("https" if self._tls else "http", "[%s]" % shown if ":" in shown else shown,
                               self.port)

    def start(self, timeout: float = 30.0) -> Self:
        """Start serving in a thread; return this server once it listens. Raises ConfigurationError
        (after ``stop()``) when it did not listen within ``timeout`` s, e.g. the port was taken."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self._server.started:
            self.stop()
            raise ConfigurationError("%s did not start listening on %s" % (self.what, self.listen))
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self

    def serve_forever(self) -> None:
        """Serve in this (main) thread until SIGTERM or SIGINT; uvicorn lets running requests finish."""
        self._server.run()

    def stop(self) -> None:
        """Stop serving; requests under way get GRACEFUL_SHUTDOWN_S to finish."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_JOIN_S)
