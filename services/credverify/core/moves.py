"""Verified moves on the hub: what the registry publishes and flowstats counts agree on here."""

from __future__ import annotations

from credverify.v1 import moves_pb2


def move_record_key(move: moves_pb2.VerifiedMove) -> bytes:
    """Kafka key of a move: the country pair. Every cell of the flow statistics and every copy of
    one move then lands in one partition, so counting and de-duplication need no repartitioning."""
    return ("%s>%s" % (move.origin_country, move.destination_country)).encode()
