"""`credverify flows worker` settings: read once, command line over environment over defaults, checked,
errors that say what was expected."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pytest

from credverify.core.errors import ConfigurationError
from credverify.flowstats.adapters.kafka_topics import default_replication
from credverify.flowstats.bootstrap import settings_from
from credverify.flowstats.cli import add_commands, worker_options
from credverify.flowstats.settings import FlowSettings


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_commands(parser)
    return parser.parse_args(["worker", *argv])


def worker_settings(*argv: str, environ: Mapping[str, str] | None = None) -> FlowSettings:
    return settings_from(worker_options(parse(*argv)), environ or {})


def test_defaults_are_the_documented_ones() -> None:
    settings = worker_settings()
    assert settings.policy.k == 5 and settings.policy.grace == dt.timedelta(days=7)
    assert settings.policy.provisional_interval == dt.timedelta(minutes=1)
    assert settings.policy.privacy is None and settings.policy.regions.label == "un-m49:region"
    assert settings.policy.partitions == 3
    assert settings.replication_factor is None and settings.data_dir == Path("flowstats-data")


def test_environment_sets_what_the_command_line_leaves_out() -> None:
    environ = {"CREDVERIFY_FLOW_K": "7", "CREDVERIFY_FLOW_GRACE": "36h", "CREDVERIFY_FLOW_PROVISIONAL_INTERVAL": "5s",
               "CREDVERIFY_FLOW_REPLICATION_FACTOR": "3", "CREDVERIFY_FLOWSTATS_DIR": "/var/lib/flows",
               "CREDVERIFY_FLOW_DP_DESTINATIONS": "GB,IE"}
    settings = worker_settings("--dp-epsilon", "1", environ=environ)
    assert settings.policy.k == 7 and settings.policy.grace == dt.timedelta(hours=36)
    assert settings.policy.provisional_interval == dt.timedelta(seconds=5)
    assert settings.replication_factor == 3 and settings.data_dir == Path("/var/lib/flows")
    assert settings.policy.privacy is not None and settings.policy.privacy.destinations == ("GB", "IE")


def test_command_line_wins_over_the_environment() -> None:
    environ = {"CREDVERIFY_FLOW_K": "7", "CREDVERIFY_FLOW_GRACE": "36h", "CREDVERIFY_FLOW_REPLICATION_FACTOR": "3"}
    settings = worker_settings("--k", "4", "--grace", "2d", "--replication-factor", "2", "--data-dir", "here",
                               environ=environ)
    assert settings.policy.k == 4 and settings.policy.grace == dt.timedelta(days=2)
    assert settings.replication_factor == 2 and settings.data_dir == Path("here")


def test_differential_privacy_needs_its_public_domain() -> None:
    with pytest.raises(ConfigurationError, match="dp destinations"):
        worker_settings("--dp-epsilon", "1")
    settings = worker_settings("--dp-epsilon", "0.5", "--dp-destinations", "gb, ie")
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
        worker_settings(*argv)


@pytest.mark.parametrize("name", ["CREDVERIFY_FLOW_K", "CREDVERIFY_FLOW_REPLICATION_FACTOR"])
def test_a_count_in_the_environment_that_is_no_number_is_named(name: str) -> None:
    with pytest.raises(ConfigurationError, match="%s: expected a whole number, found 'five'" % name):
        worker_settings(environ={name: "five"})


def test_flows_by_country_of_training_are_asked_for_by_flag_or_environment() -> None:
    assert not worker_settings().policy.by_training
    assert worker_settings("--country-of-training").policy.by_training
    on = {"CREDVERIFY_FLOW_COUNTRY_OF_TRAINING": "1"}
    assert worker_settings(environ=on).policy.by_training
    assert not worker_settings("--no-country-of-training", environ=on).policy.by_training
    with pytest.raises(ConfigurationError, match="CREDVERIFY_FLOW_COUNTRY_OF_TRAINING: expected 1 or 0"):
        worker_settings(environ={"CREDVERIFY_FLOW_COUNTRY_OF_TRAINING": "maybe"})


def test_differential_privacy_bounds_each_persons_moves_as_asked() -> None:
    settings = worker_settings("--dp-epsilon", "1", "--dp-destinations", "GB", "--dp-moves-per-person", "2")
    assert settings.policy.privacy is not None
    assert settings.policy.privacy.max_moves_per_partition == 2 and settings.policy.privacy.contribution_bound == 6
    default = worker_settings("--dp-epsilon", "1", "--dp-destinations", "GB").policy.privacy
    assert default is not None and default.contribution_bound == 3  # one move per person and partition


def test_state_is_replicated_as_the_deployment_says_else_as_the_cluster_allows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDVERIFY_REPLICATION_FACTOR", "3")
    assert worker_settings().replication_factor == 3  # the deployment's, as for every other topic
    assert worker_settings("--replication-factor", "2").replication_factor == 2
    assert worker_settings(environ={"CREDVERIFY_FLOW_REPLICATION_FACTOR": "1"}).replication_factor == 1
    # Left to the cluster: three copies, or one per broker on a smaller one.
    assert [default_replication(brokers) for brokers in (1, 2, 3, 5)] == [1, 2, 3, 3]
