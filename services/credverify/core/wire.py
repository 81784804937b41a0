"""The protobuf wire rules a parsing library does not enforce (docs/spec.md 4.3).

A protobuf library skips a known field written with the wrong wire type as if it were unknown, and
merges (or overwrites) a singular field written twice. Two verifiers of the same signed bytes would
then read different messages, so credverify refuses both: ``check_wire`` walks the encoded bytes
against the message's descriptor and raises WireError on the first such field. Truncation and
invalid UTF-8 are left to the library's parser, which refuses them.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

VARINT, FIXED64, LENGTH_DELIMITED, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
# The wire type each field type is written with (protobuf encoding guide, "Message Structure").
_WIRE_TYPE: dict[int, int] = {
    FieldDescriptor.TYPE_DOUBLE: FIXED64, FieldDescriptor.TYPE_FIXED64: FIXED64,
    FieldDescriptor.TYPE_SFIXED64: FIXED64,
    FieldDescriptor.TYPE_FLOAT: FIXED32, FieldDescriptor.TYPE_FIXED32: FIXED32,
    FieldDescriptor.TYPE_SFIXED32: FIXED32,
    FieldDescriptor.TYPE_STRING: LENGTH_DELIMITED, FieldDescriptor.TYPE_BYTES: LENGTH_DELIMITED,
    FieldDescriptor.TYPE_MESSAGE: LENGTH_DELIMITED, FieldDescriptor.TYPE_GROUP: START_GROUP,
}  # every other type (integers, bool, enum) is a varint
# Our messages nest four deep (Envelope is opaque; Attestation > Subject > Date). Unknown groups
# may nest further; this bound keeps a hostile payload from exhausting the stack.
MAX_DEPTH = 32
MAX_VARINT_BYTES = 10


class WireError(ValueError):
    """The bytes break a wire rule of docs/spec.md 4.3; the message says which field and how."""


def check_wire(data: bytes, descriptor: Any) -> None:
    """Return None when every known field of ``data`` (a ``descriptor`` message) has its own wire
    type and every singular field occurs at most once, recursively into sub-messages. Unknown
    fields are skipped. Raises WireError otherwise, or for bytes that are not protobuf at all.

    ``descriptor`` is a message's ``DESCRIPTOR`` (typed Any: the C and Python implementations of
    protobuf give it different classes)."""
    _check_message(data, 0, len(data), descriptor, depth=0)


def _check_message(data: bytes, pos: int, end: int, descriptor: Any, *, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise WireError("messages nested more than %d deep" % MAX_DEPTH)
    seen: set[int] = set()
    while pos < end:
        number, wire_type, pos = _tag(data, pos, end)
        if wire_type == END_GROUP:
            raise WireError("field %d: end of a group that was never started" % number)
        field = descriptor.fields_by_number.get(number)
        start, pos = _value(data, pos, end, wire_type, number, depth)
        if field is None:
            continue  # unknown: ignored, as protobuf does
        _check_field(field, wire_type, seen, descriptor)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            _check_message(data, start, pos, field.message_type, depth=depth + 1)


def _check_field(field: FieldDescriptor, wire_type: int, seen: set[int], descriptor: Any) -> None:
    expected = _WIRE_TYPE.get(field.type, VARINT)
    # A repeated number may also come packed, as one length-delimited run (proto3's default).
    packed = field.is_repeated and expected in (VARINT, FIXED64, FIXED32) and wire_type == LENGTH_DELIMITED
    if wire_type != expected and not packed:
        raise WireError("%s.%s (field %d): expected wire type %d, found %d" % (
            descriptor.name, field.name, field.number, expected, wire_type))
    if not field.is_repeated:
        if field.number in seen:
            raise WireError("%s.%s (field %d): a singular field occurs more than once" % (
                descriptor.name, field.name, field.number))
        seen.add(field.number)


def _tag(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    key, pos = _varint(data, pos, end)
    number, wire_type = key >> 3, key & 7
    if number == 0 or number > 0x1FFFFFFF:
        raise WireError("field number %d is outside 1 to 2^29-1" % number)
    if wire_type > FIXED32:
        raise WireError("field %d: wire type %d does not exist" % (number, wire_type))
    return number, wire_type, pos


def _value(data: bytes, pos: int, end: int, wire_type: int, number: int, depth: int) -> tuple[int, int]:
    """Return where the field's value starts (for a length-delimited one, after its length) and
    where the next field starts."""
    if wire_type == VARINT:
        return pos, _varint(data, pos, end)[1]
    if wire_type in (FIXED64, FIXED32):
        width = 8 if wire_type == FIXED64 else 4
        return pos, _within(pos + width, end, number)
    if wire_type == LENGTH_DELIMITED:
        length, start = _varint(data, pos, end)
        return start, _within(start + length, end, number)
    return pos, _skip_group(data, pos, end, number, depth)


def _skip_group(data: bytes, pos: int, end: int, number: int, depth: int) -> int:
    if depth > MAX_DEPTH:
        raise WireError("groups nested more than %d deep" % MAX_DEPTH)
    while pos < end:
        inner, wire_type, pos = _tag(data, pos, end)
        if wire_type == END_GROUP:
            if inner != number:
                raise WireError("group %d ended by the end of group %d" % (number, inner))
            return pos
        pos = _value(data, pos, end, wire_type, inner, depth + 1)[1]
    raise WireError("group %d: truncated" % number)


def _within(position: int, end: int, number: int) -> int:
    if position > end:
        raise WireError("field %d: truncated" % number)
    return position


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for index in range(MAX_VARINT_BYTES):
        if pos + index >= end:
            break
        byte = data[pos + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, pos + index + 1
    raise WireError("a varint is truncated or longer than %d bytes" % MAX_VARINT_BYTES)


def check_absent(data: bytes, numbers: frozenset[int], descriptor: Any) -> None:
    """Return None when no top-level field of ``data`` has one of ``numbers`` (numbers a message
    reserves: the library would skip them as unknown). Raises WireError naming the first found."""
    pos, end = 0, len(data)
    while pos < end:
        number, wire_type, pos = _tag(data, pos, end)
        pos = _value(data, pos, end, wire_type, number, 0)[1]
        if number in numbers:
            raise WireError("%s: field %d is reserved and must not occur" % (descriptor.name, number))
