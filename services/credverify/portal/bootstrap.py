"""The portal wired up: a Kafka feed of the statistics topic, the Starlette app, uvicorn in a thread."""

from __future__ import annotations

import logging

from credverify.core.adapters.http_server import ThreadedHttpServer
from credverify.core.settings import KafkaSettings
from credverify.portal.adapters.kafka_feed import KafkaStatisticsFeed
from credverify.portal.app import create_portal_app
from credverify.portal.source import StatisticsSource

logger = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8090"
# New statistics arrive once per release (at most one provisional release a minute per open month),
# so rebuilding the pages' snapshot more often than this would buy nothing.
DEFAULT_REFRESH_S = 30.0


class PortalServer(ThreadedHttpServer):
    """The portal served by uvicorn in a thread of this process: ``start()`` returns once it listens
    (``url`` says where), ``stop()`` ends it; ``serve_forever()`` serves in the calling thread."""

    def __init__(self, source: StatisticsSource, listen: str = DEFAULT_LISTEN) -> None:
        self.source = source
        # X-Forwarded-* trusted from 127.0.0.1 alone, uvicorn's default: the portal only ever writes paths.
        super().__init__(create_portal_app(source), listen, what="the portal", thread_name="portal",
                         proxy_headers=True)


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
