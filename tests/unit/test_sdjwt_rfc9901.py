"""RFC 9901's own examples through our Disclosure and digest code: if we hashed or encoded differently
from the standard, a wallet or verifier built on another library would not open our credentials.

The vectors are every "SHA-256 Hash / Disclosure / Contents" triple of the RFC's examples, taken from
the text built in oauth-wg/oauth-selective-disclosure-jwt (tests/vectors/rfc9901/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credverify.core.sdjwt import (
    PresentationMalformed,
    decode_disclosure,
    disclosure_digest,
    make_disclosure,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "rfc9901" / "disclosures.json").read_text())["vectors"]
OBJECT_PROPERTIES = [v for v in VECTORS if v["claim"] is not None]
ARRAY_ELEMENTS = [v for v in VECTORS if v["claim"] is None]


def test_the_vectors_cover_the_rfcs_examples() -> None:
    assert len(OBJECT_PROPERTIES) >= 60 and len(ARRAY_ELEMENTS) >= 3


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["digest"][:12])
def test_digest_of_each_rfc_disclosure_is_the_rfcs(vector: dict[str, object]) -> None:
    assert disclosure_digest(str(vector["disclosure"])) == vector["digest"]


@pytest.mark.parametrize("vector", OBJECT_PROPERTIES, ids=lambda v: "%s-%s" % (v["claim"], v["digest"][:8]))
def test_each_rfc_object_property_disclosure_decodes_to_its_contents(vector: dict[str, object]) -> None:
    salt, name, value = decode_disclosure(str(vector["disclosure"]))
    assert name == vector["claim"]
    if vector["contents"] is not None:  # one example's contents wrap mid-string in the text
        assert [salt, name, value] == vector["contents"]


@pytest.mark.parametrize("vector", ARRAY_ELEMENTS, ids=lambda v: v["digest"][:12])
def test_array_element_disclosures_are_refused_as_outside_our_profile(vector: dict[str, object]) -> None:
    with pytest.raises(PresentationMalformed):
        decode_disclosure(str(vector["disclosure"]))


# RFC 9901 section 4.2.1: one claim, three encodings, all valid; the digest covers the encoding chosen.
MOBIUS = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"
MOBIUS_VARIANTS = (
    "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNXHUwMGY2Yml1cyJd",
    "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsImZhbWlseV9uYW1lIiwiTcO2Yml1cyJd",
    "WwoiXzI2YmM0TFQtYWM2cTJLSTZjQlc1ZXMiLAoiZmFtaWx5X25hbWUiLAoiTcO2Yml1cyIKXQ",
)


def test_rfc_section_4_2_3_digest_example() -> None:
    assert disclosure_digest(MOBIUS) == "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"


@pytest.mark.parametrize("variant", MOBIUS_VARIANTS)
def test_every_rfc_encoding_of_a_claim_decodes_to_the_same_value(variant: str) -> None:
    assert decode_disclosure(variant) == ("_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius")
    assert disclosure_digest(variant) != disclosure_digest(MOBIUS)


def test_our_encoding_is_the_rfcs_compact_variant() -> None:
    assert make_disclosure("_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius") == MOBIUS_VARIANTS[1]
