"""Where the DSSE envelope draws its lines (docs/spec.md sections 3, 4.3 and 5).

PAE lengths count bytes and are written in plain decimal after the exact prefix "DSSEv1 "; the
size limit lets 65,536 bytes through and refuses one more; a signature is checked only with the key
its keyid names, and a refusal lists the keyids that were tried.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credverify.core.envelope import (
    ATTESTATION_TYPE,
    MAX_ENVELOPE_BYTES,
    Signer,
    decode_base64,
    envelope_from_json,
    envelope_to_json,
    keyid_of,
    pae,
    parse_envelope,
    raw_public_key,
    verify_signature,
)
from credverify.core.errors import Malformed, Untrusted
from credverify.core.wire import MAX_DEPTH, WireError, check_wire
from credverify.v1 import attestation_pb2, envelope_pb2, trust_pb2
from tests.factories import KE_KEY, RO_KEY, fixed_signer


def test_pae_is_the_prefix_then_byte_lengths_in_decimal_each_followed_by_one_space() -> None:
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("t", b"x") == b"DSSEv1 1 t 1 x"
    assert pae("type", b"0123456789") == b"DSSEv1 4 type 10 0123456789"
    # A type of two characters and four bytes: lengths are of the UTF-8 bytes.
    assert pae("\u00e9\u00e9", b"\xff") == b"DSSEv1 4 \xc3\xa9\xc3\xa9 1 \xff"


def test_the_worked_example_of_the_spec_is_78_bytes() -> None:
    encoded = pae(ATTESTATION_TYPE, b"\x0a\x0cKE-NCK/10001")
    assert len(encoded) == 78
    assert encoded.hex() == (
        "445353457631203530206170706c69636174696f6e2f766e642e637265647665726966792e6174746573746174696f6e"
        "2e76312b70726f746f627566203134200a0c4b452d4e434b2f3130303031")


def test_a_keyid_is_the_lowercase_hex_sha256_of_the_raw_key_whether_given_the_key_or_its_bytes() -> None:
    public = KE_KEY.private_key.public_key()
    raw = raw_public_key(public)
    assert len(raw) == 32
    assert keyid_of(public) == keyid_of(raw) == hashlib.sha256(raw).hexdigest() == KE_KEY.keyid
    assert KE_KEY.keyid == KE_KEY.keyid.lower() and len(KE_KEY.keyid) == 64


def test_a_signed_envelope_carries_the_payload_its_type_and_one_signature_over_pae() -> None:
    envelope = KE_KEY.sign(ATTESTATION_TYPE, b"payload")
    assert (envelope.payload, envelope.payloadType) == (b"payload", ATTESTATION_TYPE)
    [signature] = envelope.signatures
    assert signature.keyid == KE_KEY.keyid
    KE_KEY.private_key.public_key().verify(signature.sig, pae(ATTESTATION_TYPE, b"payload"))


def envelope_of_size(size: int) -> bytes:
    """A signed envelope padded (inside the payload) to exactly ``size`` bytes on the wire."""
    padding = size - 200
    for _ in range(5):  # the length prefixes grow with the payload: converge in a step or two
        data = KE_KEY.sign(ATTESTATION_TYPE, b"x" * padding).SerializeToString()
        if len(data) == size:
            return data
        padding += size - len(data)
    raise AssertionError("no padding gives an envelope of %d bytes" % size)


def test_an_envelope_of_exactly_64_kib_is_parsed_and_one_byte_more_is_oversized() -> None:
    assert MAX_ENVELOPE_BYTES == 65_536
    at_limit = envelope_of_size(MAX_ENVELOPE_BYTES)
    assert parse_envelope(at_limit).payloadType == ATTESTATION_TYPE
    over = envelope_of_size(MAX_ENVELOPE_BYTES + 1)
    with pytest.raises(Malformed) as err:
        parse_envelope(over)
    assert err.value.code == "OVERSIZED"
    assert err.value.detail == "envelope of 65537 bytes exceeds the limit of 65536"


@pytest.mark.parametrize("envelope", [
    envelope_pb2.Envelope(payload=b"p", payloadType="", signatures=[envelope_pb2.Signature(sig=b"s", keyid="k")]),
    envelope_pb2.Envelope(payload=b"p", payloadType=ATTESTATION_TYPE),
], ids=["no payload type", "no signature"])
def test_an_envelope_without_a_type_or_without_a_signature_is_malformed(envelope: envelope_pb2.Envelope) -> None:
    with pytest.raises(Malformed) as err:
        parse_envelope(envelope.SerializeToString())
    assert (err.value.code, err.value.detail) == ("MALFORMED", "envelope has no payloadType or no signatures")


def test_an_envelope_with_an_empty_payload_is_parsed_and_left_to_fail_later() -> None:
    envelope = KE_KEY.sign(ATTESTATION_TYPE, b"")
    assert parse_envelope(envelope.SerializeToString()).payload == b""


KEYS = {KE_KEY.keyid: KE_KEY.private_key.public_key(), RO_KEY.keyid: RO_KEY.private_key.public_key()}


def with_signatures(*signatures: envelope_pb2.Signature, payload: bytes = b"payload") -> envelope_pb2.Envelope:
    return envelope_pb2.Envelope(payload=payload, payloadType=ATTESTATION_TYPE, signatures=list(signatures))


def good(signer: Signer = KE_KEY) -> envelope_pb2.Signature:
    return signer.sign(ATTESTATION_TYPE, b"payload").signatures[0]


def test_an_unlisted_keyid_is_skipped_and_the_next_signature_decides() -> None:
    stranger = fixed_signer("stranger").sign(ATTESTATION_TYPE, b"payload").signatures[0]
    envelope = with_signatures(stranger, good())
    assert verify_signature(envelope, expected_type=ATTESTATION_TYPE, keys=KEYS) == KE_KEY.keyid


def test_a_listed_key_whose_signature_fails_is_passed_over_for_the_next() -> None:
    bad = envelope_pb2.Signature(sig=b"\x00" * 64, keyid=KE_KEY.keyid)
    envelope = with_signatures(bad, good(RO_KEY))
    assert verify_signature(envelope, expected_type=ATTESTATION_TYPE, keys=KEYS) == RO_KEY.keyid


def test_the_first_signature_that_verifies_names_the_key() -> None:
    assert verify_signature(with_signatures(good(RO_KEY), good()), expected_type=ATTESTATION_TYPE,
                            keys=KEYS) == RO_KEY.keyid


def test_a_refusal_lists_every_keyid_tried_shortened_to_16_characters() -> None:
    stranger = fixed_signer("stranger")
    bad = envelope_pb2.Signature(sig=b"\x00" * 64, keyid=KE_KEY.keyid)
    unnamed = envelope_pb2.Signature(sig=b"\x00" * 64, keyid="")
    unlisted = stranger.sign(ATTESTATION_TYPE, b"payload").signatures[0]
    with pytest.raises(Untrusted) as err:
        verify_signature(with_signatures(bad, unnamed, unlisted), expected_type=ATTESTATION_TYPE, keys=KEYS)
    assert err.value.code == "SIGNATURE_INVALID"
    assert err.value.detail == "no signature verifies with a trusted key (keyids tried: %s, (empty keyid), %s)" % (
        KE_KEY.keyid[:16], stranger.keyid[:16])


def test_a_signature_is_checked_only_with_the_key_its_keyid_names() -> None:
    # RO's signature labelled with KE's keyid: KE's key is tried, fails, and RO's is never tried.
    relabelled = envelope_pb2.Signature(sig=good(RO_KEY).sig, keyid=KE_KEY.keyid)
    with pytest.raises(Untrusted) as err:
        verify_signature(with_signatures(relabelled), expected_type=ATTESTATION_TYPE, keys=KEYS)
    assert err.value.code == "SIGNATURE_INVALID"


def test_another_payload_type_is_refused_quoting_at_most_100_characters_of_it() -> None:
    envelope = envelope_pb2.Envelope(payload=b"payload", payloadType="t" * 150, signatures=[good()])
    with pytest.raises(Untrusted) as err:
        verify_signature(envelope, expected_type=ATTESTATION_TYPE, keys=KEYS)
    assert err.value.code == "PAYLOAD_TYPE_UNSUPPORTED"
    assert err.value.detail == "expected payloadType %s, found %r" % (ATTESTATION_TYPE, "t" * 100)


def test_the_json_form_is_standard_base64_and_a_missing_keyid_reads_as_empty() -> None:
    envelope = with_signatures(envelope_pb2.Signature(sig=b"\xfb\xff", keyid=""), payload=b"\xfb\xef")
    as_json = envelope_to_json(envelope)
    assert as_json == {"payload": "++8=", "payloadType": ATTESTATION_TYPE,
                       "signatures": [{"keyid": "", "sig": "+/8="}]}
    del as_json["signatures"][0]["keyid"]  # type: ignore[index]
    assert envelope_from_json(as_json) == envelope
    assert base64.b64decode(str(as_json["payload"])) == b"\xfb\xef"
    assert envelope_from_json(json.dumps(as_json)) == envelope, "the JSON text parses like the object"


@pytest.mark.parametrize("text", [
    '{"payload": "+_8=", "payloadType": "t", "signatures": []}',  # both alphabets in one value
    '{"payload": "", "payloadType": "t", "signatures": {}}',
    '{"payloadType": "t", "signatures": []}',
    '["payload"]',
    '{"payload": "++8=!", "payloadType": "t", "signatures": []}',
    '{"payload": "", "payloadType": "t", "signatures": [{"keyid": "k", "sig": "+/8=!"}]}',
    "not json",
], ids=["mixed base64 alphabets", "signatures not a list", "no payload", "not an object",
        "a character outside base64 in the payload", "a character outside base64 in a sig", "not json"])
def test_json_that_is_not_a_dsse_envelope_is_malformed(text: str) -> None:
    with pytest.raises(Malformed, match="^not a DSSE JSON envelope: "):
        envelope_from_json(text)


def test_bytes_that_are_not_a_protobuf_envelope_are_malformed_with_the_parser_s_complaint() -> None:
    with pytest.raises(Malformed) as err:
        parse_envelope(b"\xff\xff\xff")
    assert err.value.code == "MALFORMED"
    assert err.value.detail.startswith("not a DSSE envelope: ") and len(err.value.detail) > len("not a DSSE envelope: ")


# --- base64 of the JSON form (spec 2) -----------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("++8=", b"\xfb\xef"), ("++8", b"\xfb\xef"),      # standard alphabet, padded or not
    ("--8=", b"\xfb\xef"), ("--8", b"\xfb\xef"),      # URL-safe alphabet, padded or not
    ("", b""), ("AA==", b"\x00"), ("AAA=", b"\x00\x00"),
])
def test_json_base64_takes_either_alphabet_with_or_without_padding(text: str, expected: bytes) -> None:
    assert decode_base64(text) == expected


@pytest.mark.parametrize("text", [
    "+-8=",     # both alphabets in one value
    "++8==",    # too much padding
    "AA=",      # padding that does not reach a multiple of four
    "A",        # one character cannot end a value
    "AB==",     # unused bits not zero: AA== is the only text for b"\x00"
    "AA AA",    # white space
    "AA\n",
    "=AAA",
])
def test_json_base64_refuses_what_is_not_one_alphabet_canonically_padded(text: str) -> None:
    with pytest.raises(ValueError):
        decode_base64(text)


@given(st.binary(max_size=64), st.booleans(), st.booleans())
def test_json_base64_reads_back_every_encoding_it_allows(data: bytes, urlsafe: bool, padded: bool) -> None:
    text = (base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)).decode()
    assert decode_base64(text if padded else text.rstrip("=")) == data


# --- wire rules a protobuf library does not enforce (spec 4.3) ---------------------------------


def _envelope_bytes() -> bytes:
    return KE_KEY.sign(ATTESTATION_TYPE, b"payload").SerializeToString()


@pytest.mark.parametrize(("extra", "message"), [
    (b"\x10\x05", "Envelope.payloadType (field 2): expected wire type 2, found 0"),
    (b"\x1d\x00\x00\x00\x00", "Envelope.signatures (field 3): expected wire type 2, found 5"),
    (b"\x12\x01t", "Envelope.payloadType (field 2): a singular field occurs more than once"),
    (b"\x1a\x02\x10\x01", "Signature.keyid (field 2): expected wire type 2, found 0"),
])
def test_a_known_envelope_field_of_the_wrong_wire_type_or_repeated_is_malformed(extra: bytes, message: str) -> None:
    data = _envelope_bytes() + extra
    envelope_pb2.Envelope.FromString(data)  # the library alone lets each of these through
    with pytest.raises(Malformed) as err:
        parse_envelope(data)
    assert err.value.code == "MALFORMED"
    assert message in err.value.detail


def test_unknown_fields_of_every_wire_type_are_still_ignored() -> None:
    unknown = (b"\xa0\x06\x01" b"\xa1\x06" + bytes(8) + b"\xa2\x06\x01x" b"\xa5\x06" + bytes(4)
               + b"\xa3\x06\x08\x01\xa4\x06")  # fields 100: varint, fixed64, bytes, fixed32, group
    envelope = parse_envelope(_envelope_bytes() + unknown)
    assert envelope.payload == b"payload"


@pytest.mark.parametrize("data", [b"\x0a\x05ab", b"\x08", b"\x00\x00", b"\x0f", b"\xa3\x06", b"\xa4\x06",
                                  b"\xa3\x06\xac\x06", b"\x88" * 11])
def test_the_wire_walker_refuses_what_is_not_protobuf(data: bytes) -> None:
    with pytest.raises(WireError):
        check_wire(data, envelope_pb2.Envelope.DESCRIPTOR)


def test_the_wire_walker_takes_a_packed_repeated_number_and_refuses_groups_nested_past_the_limit() -> None:
    check_wire(b"\x2a\x02\x01\x02" b"\x28\x03", trust_pb2.IssuerRecord.DESCRIPTOR)  # credential_kinds
    nested = b"\xa3\x06" * (MAX_DEPTH + 2) + b"\xa4\x06" * (MAX_DEPTH + 2)
    with pytest.raises(WireError):
        check_wire(nested, envelope_pb2.Envelope.DESCRIPTOR)


@given(st.binary(max_size=300))
def test_the_wire_walker_answers_any_bytes_with_none_or_wire_error(data: bytes) -> None:
    try:
        check_wire(data, attestation_pb2.Attestation.DESCRIPTOR)
    except WireError:
        pass
