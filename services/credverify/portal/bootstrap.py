"""The portal wired up: a Kafka feed of the statistics topic, the Starlette app, uvicorn in a thread."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import uvicorn

from credverify.core.adapters.observability import split_host_port
from credverify.core.errors import ConfigurationError
from credverify.core.settings import KafkaSettings
from credverify.portal.adapters.kafka_feed import KafkaStatisticsFeed
from credverify.portal.app import create_portal_app
from credverify.portal.source import StatisticsSource

logger = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8090"
# New statistics arrive once per release (at most one provisional release a minute per open month),
# so rebuilding the pages' snapshot more often than this would buy nothing.
DEFAULT_REFRESH_S = 30.0


class PortalServer:
    """The portal served by uvicorn in a thread of this process: ``start()`` returns once it listens
    (``url`` says where), ``stop()`` ends it; ``serve_forever()`` serves in the calling thread."""

    def __init__(self, source: StatisticsSource, listen: str = DEFAULT_LISTEN) -> None:
        self.source, self.listen = source, listen
        host, port = split_host_port(listen)
        config = uvicorn.Config(create_portal_app(source), host=host, port=port, log_config=None, access_log=False,
                                lifespan="off", server_header=False, timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve()), name="portal", daemon=True)
        self.port = port

    @property
    def url(self) -> str:
        host, _ = split_host_port(self.listen)
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return "http://%s:%d" % ("[%s]" % shown if ":" in shown else shown, self.port)

    def start(self, timeout: float = 30.0) -> PortalServer:
        """Start serving in a thread. Raises ConfigurationError when it did not listen within ``timeout`` s."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self._server.started:
            self.stop()
            raise ConfigurationError("the portal did not start listening on %s" % self.listen)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until SIGTERM or SIGINT."""
        self._server.run()

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=15)


def serve(kafka: KafkaSettings, *, listen: str, refresh: float) -> None:
    """Follow the statistics topic and serve the portal until SIGTERM or SIGINT."""
    feed = KafkaStatisticsFeed(kafka, kafka.topics.flow_statistics, refresh=refresh).start()
    try:
        server = PortalServer(feed, listen)
        print("portal served at http://%s/ (statistics from %s)" % (listen, kafka.topics.flow_statistics),
              flush=True)
        server.serve_forever()
    finally:
        feed.stop()
