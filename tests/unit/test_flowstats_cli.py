"""`credverify flows worker` settings: read once, checked, errors that say what was expected."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest

from credverify.core.errors import ConfigurationError
from credverify.flowstats.cli import add_commands, worker_settings


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_commands(parser)
    return parser.parse_args(["worker", *argv])


def test_defaults_are_the_documented_ones() -> None:
    settings = worker_settings(parse())
    assert settings.policy.k == 5 and settings.policy.grace == dt.timedelta(days=7)
    assert settings.policy.privacy is None and settings.policy.regions.label == "un-m49:region"
    assert settings.policy.partitions == 3


def test_differential_privacy_needs_its_public_domain() -> None:
    with pytest.raises(ConfigurationError, match="dp destinations"):
        worker_settings(parse("--dp-epsilon", "1"))
    settings = worker_settings(parse("--dp-epsilon", "0.5", "--dp-destinations", "gb, ie"))
    assert settings.policy.privacy is not None
    assert settings.policy.privacy.destinations == ("GB", "IE") and settings.policy.privacy.window_budget == 2.0


@pytest.mark.parametrize("argv, message", [
    (("--k", "1"), "--k: expected at least 2"),
    (("--grace", "soon"), "--grace: expected a duration"),
    (("--dp-epsilon", "1", "--dp-destinations", "GB,XX"), "--dp-destinations: expected an ISO 3166-1"),
    (("--replication-factor", "0"), "--replication-factor: expected at least 1"),
])
def test_bad_settings_stop_the_worker_saying_what_was_expected(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        worker_settings(parse(*argv))
