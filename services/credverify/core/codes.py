"""Code lists the contract refers to: ISO 3166-1 alpha-2 countries, ISCO-08 health unit groups."""

from __future__ import annotations

import pycountry

from credverify.core.errors import InvalidInput

# ISCO-08 unit groups of health professionals and associate professionals
# (ILO, International Standard Classification of Occupations 2008, sub-major
# groups 22 and 32), with the group a statistician reports them under.
ISCO08_HEALTH: dict[str, tuple[str, str]] = {
    "2211": ("Generalist medical practitioners", "doctors"),
    "2212": ("Specialist medical practitioners", "doctors"),
    "2221": ("Nursing professionals", "nurses"),
    "2222": ("Midwifery professionals", "midwives"),
    "2230": ("Traditional and complementary medicine professionals", "other"),
    "2240": ("Paramedical practitioners", "other"),
    "2250": ("Veterinarians", "other"),
    "2261": ("Dentists", "dentists"),
    "2262": ("Pharmacists", "pharmacists"),
    "2263": ("Environmental and occupational health and hygiene professionals", "other"),
    "2264": ("Physiotherapists", "other"),
    "2265": ("Dieticians and nutritionists", "other"),
    "2266": ("Audiologists and speech therapists", "other"),
    "2267": ("Optometrists and ophthalmic opticians", "other"),
    "2269": ("Health professionals not elsewhere classified", "other"),
    "3221": ("Nursing associate professionals", "nurses"),
    "3222": ("Midwifery associate professionals", "midwives"),
}


# Read once: looking a code up in pycountry's database per field costs more than signing does.
ISO3166_ALPHA2: frozenset[str] = frozenset(country.alpha_2 for country in pycountry.countries)


def check_country(field: str, value: str) -> str:
    """Return ``value`` when it is an ISO 3166-1 alpha-2 code; raise InvalidInput naming ``field``."""
    if value not in ISO3166_ALPHA2:
        # Echo only what looks like a code: a wrong column in a register export puts a person's
        # details here, and errors reach logs and dead letters.
        found = repr(value) if len(value) <= 3 and value.isascii() and value.isalnum() else (
            "%d characters that are not a code" % len(value))
        raise InvalidInput("%s: expected an ISO 3166-1 alpha-2 country code, found %s" % (field, found))
    return value


def check_isco(field: str, value: str) -> str:
    """Return ``value`` when it is an ISCO-08 health unit group; raise InvalidInput naming ``field``."""
    if value not in ISCO08_HEALTH:
        raise InvalidInput(
            "%s: expected an ISCO-08 health unit group (e.g. 2221 nursing professionals), found %r"
            % (field, value)
        )
    return value


def profession_group(isco: str) -> str:
    """Return the reporting group (doctors, nurses, midwives, dentists, pharmacists, other)."""
    return ISCO08_HEALTH.get(isco, ("", "other"))[1]
