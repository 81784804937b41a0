"""Whatever text an applicant hands a registry, the presentation gate answers with a verified
presentation or one of its reasons, never with an internal error."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credverify.core import sdjwt
from tests.unit.test_sdjwt import AGE, HOLDER, KEYS, NOW, credential

BASE = credential().text
BOUND = sdjwt.present(credential(holder=True).text, disclose=["family_name", "birth_date"], now=NOW,
                      holder_key=HOLDER, audience="registry-GB", nonce="n-123")
PIECES = st.sampled_from(["~", ".", "e30", "eyJ", "W10", "WyJ", "=", "-", "_", "A" * 43])


def answers(text: str) -> None:
    try:
        sdjwt.verify_presentation(text, keys_by_kid=KEYS, audience="registry-GB", nonce="n-123", now=NOW,
                                  max_age=AGE, expected_digests=None)
    except sdjwt.PresentationRejected as exc:
        assert exc.reason in sdjwt.REASON_CODES


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_gets_a_verdict(text: str) -> None:
    answers(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(alphabet="AZaz09-_.~", max_size=20)), max_size=30))
def test_any_joining_of_jws_like_pieces_gets_a_verdict(pieces: list[str]) -> None:
    answers("".join(pieces))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([BASE, BOUND]), st.integers(min_value=0), st.text(max_size=5), st.booleans())
def test_any_edit_of_a_real_presentation_gets_a_verdict(text: str, at: int, insert: str, delete: bool) -> None:
    position = at % (len(text) + 1)
    answers(text[:position] + insert + text[position + (1 if delete else 0):])


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                max_size=4), max_leaves=12))
def test_any_json_in_a_disclosure_gets_a_verdict(value: object) -> None:
    import json

    try:
        encoded = sdjwt.b64url(json.dumps(value).encode())
    except ValueError:
        return
    answers(BASE.split("~")[0] + "~" + encoded + "~")


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    nested = sdjwt.b64url(b"[" * 15000)  # deeper than Python's recursion limit, within the size limits
    try:
        sdjwt.verify_presentation(BASE.split("~")[0] + "~" + nested + "~", keys_by_kid=KEYS, audience="a",
                                  nonce="n", now=NOW, max_age=AGE)
    except sdjwt.PresentationRejected as exc:
        assert exc.reason == sdjwt.PRESENTATION_MALFORMED
