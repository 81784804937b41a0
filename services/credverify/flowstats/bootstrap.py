"""Composition root of the flow-statistics worker: its settings from the command line over the
environment over the defaults, the broker prepared for it, and the Faust worker run on it.

    settings = settings_from(WorkerOptions(k=7), os.environ)
    run(settings, log_level="info")   # returns once SIGTERM or SIGINT stopped the worker cleanly
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import faust

from credverify.core.adapters.kafka import ensure_topics
from credverify.core.codes import check_country
from credverify.core.errors import ConfigurationError, CredverifyError, InvalidInput
from credverify.core.settings import KafkaSettings
from credverify.flowstats.adapters import faust_internals
from credverify.flowstats.adapters.kafka_topics import (
    check_partitions,
    ensure_internal_topics,
    replication_factor_for,
)
from credverify.flowstats.app import create_app
from credverify.flowstats.defaults import DEFAULT_GRACE, DEFAULT_K, DEFAULT_PROVISIONAL_INTERVAL, MIN_K
from credverify.flowstats.privacy import PrivacyPolicy
from credverify.flowstats.regions import load_m49
from credverify.flowstats.releases import ReleasePolicy
from credverify.flowstats.settings import PARTITIONS, FlowSettings
from credverify.flowstats.tables import PROFESSION_SCHEMES
from credverify.flowstats.windows import MONTH, WINDOWS, parse_duration

__all__ = ["ENV_BY_TRAINING", "ENV_DATA_DIR", "ENV_DP_DESTINATIONS", "ENV_GRACE", "ENV_K", "ENV_PROVISIONAL_INTERVAL",
           "ENV_PROFESSIONS", "ENV_REPLICATION_FACTOR", "ENV_WINDOW", "WorkerFailed", "WorkerOptions", "run",
           "settings_from"]

logger = logging.getLogger(__name__)

# The environment variables behind the worker's flags (README and docs/flowstats.md document them).
ENV_K = "CREDVERIFY_FLOW_K"
ENV_GRACE = "CREDVERIFY_FLOW_GRACE"
ENV_PROVISIONAL_INTERVAL = "CREDVERIFY_FLOW_PROVISIONAL_INTERVAL"
ENV_DP_DESTINATIONS = "CREDVERIFY_FLOW_DP_DESTINATIONS"
ENV_REPLICATION_FACTOR = "CREDVERIFY_FLOW_REPLICATION_FACTOR"
ENV_DATA_DIR = "CREDVERIFY_FLOWSTATS_DIR"
ENV_BY_TRAINING = "CREDVERIFY_FLOW_COUNTRY_OF_TRAINING"
ENV_WINDOW = "CREDVERIFY_FLOW_WINDOW"
ENV_PROFESSIONS = "CREDVERIFY_FLOW_PROFESSION_GROUPS"
# One replica is all a single development broker can hold; production sets the cluster's.
DEFAULT_DATA_DIR = "flowstats-data"
DEFAULT_REGION_LEVEL = "region"
# With differential privacy, a month's budget covers this many releases of --dp-epsilon each
# unless --dp-window-budget says otherwise: three provisional releases and the final one.
DEFAULT_RELEASES_PER_WINDOW = 4


class WorkerFailed(CredverifyError):
    """The Faust worker stopped with an error (its log says which)."""


@dataclass(frozen=True)
class WorkerOptions:
    """What the command line gave; None where it gave nothing, so the environment or the default applies."""

    bootstrap: str | None = None
    k: int | None = None
    grace: str | None = None
    provisional_interval: str | None = None
    region_level: str = DEFAULT_REGION_LEVEL
    dp_epsilon: float | None = None
    dp_window_budget: float | None = None
    dp_destinations: str | None = None
    replication_factor: int | None = None
    data_dir: Path | None = None
    by_training: bool | None = None
    window: str | None = None
    dp_moves_per_person: int = 1
    professions: str | None = None


def _whole_number(given: int | None, environ: Mapping[str, str], name: str, default: int) -> int:
    if given is not None:
        return given
    raw = environ.get(name) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError("%s: expected a whole number, found %r" % (name, raw)) from None


def _privacy(options: WorkerOptions, environ: Mapping[str, str]) -> PrivacyPolicy | None:
    """Return the differential-privacy policy, or None when the worker suppresses instead.
    Raises InvalidInput naming the flag that is wrong."""
    if options.dp_epsilon is None:
        return None
    listed = options.dp_destinations if options.dp_destinations is not None else environ.get(ENV_DP_DESTINATIONS, "")
    destinations = tuple(
        check_country("--dp-destinations", code.strip().upper()) for code in listed.split(",") if code.strip()
    )
    budget = options.dp_window_budget
    if budget is None:
        budget = DEFAULT_RELEASES_PER_WINDOW * options.dp_epsilon
    return PrivacyPolicy(epsilon=options.dp_epsilon, window_budget=budget, destinations=destinations,
                         max_moves_per_partition=options.dp_moves_per_person, partitions=PARTITIONS,
                         groups=PROFESSION_SCHEMES[_professions(options, environ)])


def _policy(options: WorkerOptions, environ: Mapping[str, str]) -> ReleasePolicy:
    """Return the release policy. Raises ConfigurationError naming what is wrong."""
    k = _whole_number(options.k, environ, ENV_K, DEFAULT_K)
    if k < MIN_K:
        raise ConfigurationError("--k: expected at least %d, found %d" % (MIN_K, k))
    try:
        grace = parse_duration(options.grace or environ.get(ENV_GRACE) or DEFAULT_GRACE, field="--grace")
        interval = parse_duration(
            options.provisional_interval or environ.get(ENV_PROVISIONAL_INTERVAL) or DEFAULT_PROVISIONAL_INTERVAL,
            field="--provisional-interval")
        privacy = _privacy(options, environ)
    except InvalidInput as exc:
        raise ConfigurationError(str(exc)) from exc
    return ReleasePolicy(k=k, regions=load_m49(options.region_level), grace=grace, provisional_interval=interval,
                         partitions=PARTITIONS, privacy=privacy, by_training=_by_training(options, environ),
                         window=_window(options, environ), professions=_professions(options, environ))


def _professions(options: WorkerOptions, environ: Mapping[str, str]) -> str:
    """Return the profession-group scheme: the flag, else the environment, else fine."""
    scheme = options.professions or environ.get(ENV_PROFESSIONS) or "fine"
    if scheme not in PROFESSION_SCHEMES:
        raise ConfigurationError("--profession-groups: expected one of %s, found %r"
                                 % (", ".join(PROFESSION_SCHEMES), scheme))
    return scheme


def _window(options: WorkerOptions, environ: Mapping[str, str]) -> str:
    """Return the kind of window: the flag, else the environment, else month."""
    window = options.window or environ.get(ENV_WINDOW) or MONTH
    if window not in WINDOWS:
        raise ConfigurationError("--window: expected one of %s, found %r" % (", ".join(WINDOWS), window))
    return window


def _by_training(options: WorkerOptions, environ: Mapping[str, str]) -> bool:
    """Return whether flows by country of training are published: the flag, else the environment (1, true,
    yes), else not."""
    if options.by_training is not None:
        return options.by_training
    raw = environ.get(ENV_BY_TRAINING, "").strip().lower()
    if raw not in ("", "0", "1", "true", "false", "yes", "no"):
        raise ConfigurationError("%s: expected 1 or 0, found %r" % (ENV_BY_TRAINING, raw))
    return raw in ("1", "true", "yes")


def settings_from(options: WorkerOptions, environ: Mapping[str, str]) -> FlowSettings:
    """Return the worker's settings: each from ``options`` when given, else from ``environ``, else the
    documented default. Raises ConfigurationError naming what is wrong."""
    policy = _policy(options, environ)
    kafka = KafkaSettings.from_env(options.bootstrap)
    replication: int | None = kafka.replication.factor
    if options.replication_factor is not None or environ.get(ENV_REPLICATION_FACTOR):
        replication = _whole_number(options.replication_factor, environ, ENV_REPLICATION_FACTOR, 1)
        if replication < 1:
            raise ConfigurationError("--replication-factor: expected at least 1, found %d" % replication)
    data_dir = options.data_dir or Path(environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR)
    return FlowSettings(kafka=kafka, data_dir=data_dir, policy=policy, replication_factor=replication)


def prepare(settings: FlowSettings) -> faust.App:
    """Return the worker's Faust app with the broker ready for it. Raises ConfigurationError (the moves
    topic's layout, an incompatible Faust), HubUnavailable (no broker)."""
    # (1) the state directory
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # (2) the topics the worker shares with the other services, and the layout its state relies on
    topics = settings.kafka.topics
    ensure_topics(settings.kafka, only=[topics.verified_moves, topics.flow_statistics, topics.rejected])
    check_partitions(settings.kafka, topics.verified_moves, PARTITIONS)
    # (3) the app, and every Faust internal it uses checked before it is relied on; its state as
    # replicated as the cluster allows unless the deployment says otherwise
    settings = replace(settings, replication_factor=replication_factor_for(settings.kafka,
                                                                          settings.replication_factor))
    flow = create_app(settings)
    faust_internals.check_app(flow.app)
    # (4) its internal topics, before its consumer joins the group
    ensure_internal_topics(settings.kafka, faust_internals.internal_topics(flow.app, flow.internal_topics),
                           replication_factor=settings.replication_factor or 1)
    return flow.app


def run(settings: FlowSettings, *, log_level: str) -> None:
    """Run the worker until SIGTERM or SIGINT stops it cleanly. Raises ConfigurationError,
    HubUnavailable (see ``prepare``) and WorkerFailed when Faust stopped it with an error."""
    app = prepare(settings)
    worker = faust.Worker(app, loglevel=log_level.lower())
    try:
        worker.execute_from_commandline()  # always ends in SystemExit, 0 after a clean stop
    except SystemExit as stopped:
        if stopped.code not in (None, 0):
            raise WorkerFailed("the flow-statistics worker stopped with status %s; its log says why"
                               % stopped.code) from None
