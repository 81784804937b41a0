"""What a registry writes to the dead-letter topic for a refused record: always small enough to publish.

A dead letter used to carry the original record whole, so a record just under the broker's limit
made a dead letter over it: the producer refused it, ingest retried the batch for ever and nothing
after it was ingested. Now the copied key and value are cut to bounds far below any producer or
broker limit, and the dead letter names the original by topic, partition, offset, size and SHA-256
digest, which is all an operator needs to find it in the log (or to prove which bytes were refused).
"""

from __future__ import annotations

import hashlib

from google.protobuf.timestamp_pb2 import Timestamp

from credverify.core.envelope import MAX_ENVELOPE_BYTES
from credverify.registry.ports import Rejection
from credverify.v1 import registry_pb2

# Every envelope a registry could accept fits whole (anything larger is OVERSIZED anyway), so a
# dead letter of a record that failed for any other reason carries the complete original.
MAX_DEAD_LETTER_VALUE_BYTES = MAX_ENVELOPE_BYTES
# Record keys are credential ids (a few dozen bytes); 1 KiB keeps any real one whole.
MAX_DEAD_LETTER_KEY_BYTES = 1024
# The detail is a sentence written by the gate; this bounds one built from hostile input.
MAX_DEAD_LETTER_DETAIL_CHARS = 1000
# The largest dead letter, metadata included: far below the producer's 1 MiB max.request.size
# and the broker's default message.max.bytes (1,048,588), so it is always accepted.
MAX_DEAD_LETTER_BYTES = (MAX_DEAD_LETTER_VALUE_BYTES + MAX_DEAD_LETTER_KEY_BYTES
                         + 4 * MAX_DEAD_LETTER_DETAIL_CHARS + 1024)


def dead_letter(rejection: Rejection, *, key: bytes | None, value: bytes | None,
                rejected_at: Timestamp) -> registry_pb2.RejectedRecord:
    """Return the RejectedRecord for ``rejection`` of the record (``key``, ``value``): the original
    bytes up to the bounds above, their sizes and SHA-256 digests, where it was read and why it was
    refused. Its serialized size never exceeds MAX_DEAD_LETTER_BYTES."""
    key, value = key or b"", value or b""
    return registry_pb2.RejectedRecord(
        source_topic=rejection.topic[:255], partition=rejection.partition, offset=rejection.offset,
        key=key[:MAX_DEAD_LETTER_KEY_BYTES], value=value[:MAX_DEAD_LETTER_VALUE_BYTES],
        reason=rejection.reason, detail=rejection.detail[:MAX_DEAD_LETTER_DETAIL_CHARS], rejected_at=rejected_at,
        truncated=len(key) > MAX_DEAD_LETTER_KEY_BYTES or len(value) > MAX_DEAD_LETTER_VALUE_BYTES,
        value_size=len(value), value_sha256=hashlib.sha256(value).digest(),
        key_size=len(key), key_sha256=hashlib.sha256(key).digest(),
    )
