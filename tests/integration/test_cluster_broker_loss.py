"""The hub on a cluster of three brokers (replication factor 3, min.insync.replicas 2, unclean leader
election off), one cluster for the tests of this module: a broker killed with SIGKILL in the middle of
a 20,000-row bulk issue while the admission admits, a registry ingests and a flows worker counts; two
brokers lost, when producers must refuse to confirm rather than confirm a write one broker holds; two
flows workers sharing the moves, one of them killed.

What a council, a registry and a statistician would see go wrong is what is checked: a row reported
confirmed that the hub does not hold, a credential twice on a topic or missing from the registry, a move
counted twice or not at all."""

from __future__ import annotations

import base64
import datetime as dt
import random
import re
import sqlite3
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics, new_admin
from credverify.core.codes import profession_group
from credverify.core.moves import move_record_key
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.core.topics import Topics
from credverify.flowstats.adapters.kafka_statistics import read_all_statistics
from credverify.localrun import Service, cli_env, free_port, run_cli, serving, wait_for
from credverify.v1 import moves_pb2
from tests.conftest import localkafka, operating
from tests.integration.test_admission import create_submission_topic
from tests.integration.test_issuer_bulk import write_register
from tests.topic_reader import end_offsets_total, read_all

pytestmark = pytest.mark.kafka

ROWS = 20_000
MOVES = 6_000
ORIGINS = ["KE", "RO", "LK", "IN", "PH", "NG", "GH", "ZA", "TT", "JM", "PL", "PT"]
DESTINATION = "GB"
ISCO = ["2211", "2212", "2221", "2222", "2261", "2262", "3221"]
# Statistics unchanged this long after the last move was sent are all the worker will publish.
STEADY_S = 30.0
# The broker killed mid-flight; any would do, every partition has a replica on each of the three.
VICTIM = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localkafka.LocalKafkaCluster]:
    """Three brokers and their controller from the Maven jars, closed as the hub is; while this module
    runs, the environment (and every client a test builds) authenticates as its operator."""
    cluster = localkafka.LocalKafkaCluster(state_dir=tmp_path_factory.mktemp("cluster"), brokers=3)
    try:
        cluster.start()
    except localkafka.KafkaUnavailable as exc:
        pytest.fail("the cluster tests need Java 17 and Maven to start three brokers (%s)" % exc, pytrace=False)
    try:
        with operating(cluster):
            yield cluster
    finally:
        cluster.stop()


def all_up(cluster: localkafka.LocalKafkaCluster) -> None:
    """Every broker running and every replica in sync: the state each test starts from."""
    cluster.start()
    cluster.wait_in_sync()


def replicas_of(bootstrap: str, topic: str) -> list[tuple[list[int], list[int]]]:
    """(replicas, in-sync replicas) of each partition of ``topic``."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        [found] = admin.describe_topics([topic])
        return [(sorted(p["replica_nodes"]), sorted(p["isr_nodes"])) for p in found["partitions"]]
    finally:
        admin.close()


def in_sync_only_on(broker: localkafka.LocalKafka, topic: str) -> bool | None:
    """True once ``broker`` is the one in-sync replica of every partition of ``topic`` (asked of it alone:
    the client would otherwise send the request to a broker that is down)."""
    try:
        found = replicas_of(broker.bootstrap, topic)
    except KafkaError:
        return None
    return True if all(isr == [broker.node_id] for _, isr in found) else None


class Hub:
    """A federation on the cluster: its topics, a root, KE-NCK admitted with its key, and the services
    (the hub's admission and a GB registry) started as processes."""

    def __init__(self, cluster: localkafka.LocalKafkaCluster, topics: Topics, cwd: Path) -> None:
        self.bootstrap = cluster.bootstrap
        self.topics = topics
        self.cwd = cwd
        self.kafka = KafkaSettings(cluster.bootstrap, topics)
        self.env = cli_env(cluster.bootstrap, topics.prefix)
        ensure_topics(self.kafka)
        self.submitted = create_submission_topic(self.kafka, "KE-NCK")
        run_cli(["trust", "init-root", "--key", "root.key"], env=self.env, cwd=cwd)
        run_cli(["issuer", "keygen", "--key", "ke.key"], env=self.env, cwd=cwd)
        run_cli(["trust", "register-issuer", "--root-key", "root.key", "--issuer-id", "KE-NCK", "--country", "KE",
                 "--name", "Nursing Council of Kenya", "--kinds", "LICENCE,GOOD_STANDING", "--isco", "2221,2222,3221",
                 "--issuer-public-key", "ke.pub.pem"], env=self.env, cwd=cwd)
        (cwd / "pseudonym.key").write_bytes(base64.b64encode(b"p" * 48))
        self.target = "127.0.0.1:%d" % free_port()
        self.metrics = "127.0.0.1:%d" % free_port()
        self.services: list[Service] = []

    def start(self) -> None:
        self.services.append(Service("admission", [
            "hub", "admit", "--db", "admission.db", "--root-key", "root.pub.pem", "--log-format", "text"],
            env=self.env, cwd=self.cwd))
        self.services.append(Service("registry", [
            "registry", "serve", "--db", "registry.db", "--listen", self.target, "--root-key", "root.pub.pem",
            "--country", "GB", "--pseudonym-key-file", "pseudonym.key", "--plaintext-for-local-use",
            "--metrics-listen", self.metrics, "--log-format", "text"], env=self.env, cwd=self.cwd))
        wait_for("the registry to report SERVING", lambda: serving(self.target), timeout=120,
                 services=tuple(self.services))

    def bulk(self, name: str) -> Service:
        return Service(name, ["issuer", "bulk", "--key", "ke.key", "--issuer-id", "KE-NCK", "--jurisdiction", "KE",
                              "--register", "register.csv", "--no-progress"], env=self.env, cwd=self.cwd)

    def stored(self) -> tuple[int, int]:
        """(attestations, rejections) in the registry's store, read beside the running registry."""
        with sqlite3.connect("file:%s?mode=ro" % (self.cwd / "registry.db"), uri=True) as db:
            return (db.execute("SELECT COUNT(*) FROM attestations").fetchone()[0],
                    db.execute("SELECT COUNT(*) FROM rejections").fetchone()[0])

    def accepted_total(self) -> float:
        """How many attestations the registry has accepted since it started (its own counter)."""
        text = urllib.request.urlopen("http://%s/metrics" % self.metrics, timeout=5).read().decode()
        found = re.search(r"^credverify_registry_attestations_accepted_total (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def wait_ingested(self, count: int) -> None:
        wait_for("the registry to hold %d attestations" % count,
                 lambda: True if self.stored()[0] >= count else None, timeout=240, services=tuple(self.services))

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def bulk_summary(output: str) -> tuple[int, set[str]]:
    """(rows confirmed, credential ids reported NOT CONFIRMED) from `issuer bulk`'s report."""
    summary = re.search(r"(\d+) rows: (\d+) published and confirmed, (\d+) unchanged .*, 0 invalid, (\d+) not "
                        r"confirmed", output)
    assert summary is not None, output[-3000:]
    unconfirmed = set(re.findall(r"NOT CONFIRMED row \d+ (\S+):", output))
    assert len(unconfirmed) == int(summary.group(4)), output[-3000:]
    return int(summary.group(2)) + int(summary.group(3)), unconfirmed


def make_moves(count: int, seed: int) -> list[moves_pb2.VerifiedMove]:
    """``count`` moves registered this month (a window still open: every move that arrives while the
    worker runs counts, none is late), from many origins so that every moves partition has some."""
    rng = random.Random(seed)
    today = dt.datetime.now(dt.UTC).date()
    moves = []
    for n in range(count):
        origin = rng.choice(ORIGINS)
        moves.append(moves_pb2.VerifiedMove(
            move_id="move-%d-%06d" % (seed, n), origin_country=origin, destination_country=DESTINATION,
            profession_isco=rng.choice(ISCO), registered_on=to_date(today.replace(day=rng.randint(1, today.day))),
            subject_token="token-%d-%06d" % (seed, n), country_of_training=origin))
    return moves


def move_records(topics: Topics, moves: list[moves_pb2.VerifiedMove]) -> list[OutgoingRecord]:
    return [OutgoingRecord(topics.verified_moves, move_record_key(m), m.SerializeToString()) for m in moves]


class MoveFeeder(threading.Thread):
    """Publishes moves in small confirmed batches for as long as the bulk issue runs, as registries
    registering applicants do; keeps what was not confirmed to send again."""

    def __init__(self, kafka: KafkaSettings, moves: list[moves_pb2.VerifiedMove], *, batch: int = 100) -> None:
        super().__init__(daemon=True)
        self.kafka = kafka
        self.moves = moves
        self.batch = batch
        self.sent = 0
        self.unconfirmed: list[moves_pb2.VerifiedMove] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            producer = ConfirmingProducer(self.kafka, client_id="test-moves", linger_ms=10)
            for start in range(0, len(self.moves), self.batch):
                chunk = self.moves[start:start + self.batch]
                for move, delivery in zip(chunk, producer.publish(move_records(self.kafka.topics, chunk)),
                                          strict=True):
                    if not delivery.confirmed:
                        self.unconfirmed.append(move)
                self.sent += len(chunk)
                time.sleep(0.2)
            producer.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test, not lost in a thread
            self.failure = exc


Cell = tuple[str, str, str]  # (month, issuing country, profession group), destination GB


def true_cells(moves: list[moves_pb2.VerifiedMove]) -> Counter[Cell]:
    return Counter(("%04d-%02d" % (m.registered_on.year, m.registered_on.month), m.origin_country,
                    profession_group(m.profession_isco)) for m in moves)


def totals(cells: Mapping[Cell, int]) -> dict[str, int]:
    by_month: Counter[str] = Counter()
    for (month, _, _), n in cells.items():
        by_month[month] += n
    return dict(by_month)


class LatestStatistics:
    """The latest release of each statistic by issuing country and profession (the cells the worker
    releases while a month is open), read from the start of the statistics topic each time."""

    def __init__(self, kafka: KafkaSettings, moves: list[moves_pb2.VerifiedMove]) -> None:
        self.kafka = kafka
        self.truth = true_cells(moves)
        self.last: dict[str, int] = {}
        self.changed_at = time.monotonic()
        self.by_origin: dict[str, tuple[int, int]] = {}

    def __call__(self) -> dict[Cell, moves_pb2.FlowStatistic] | None:
        """The statistics, once each month's cells add up to the number of moves (or more), or once they
        have not changed for STEADY_S (then the comparison says what is missing)."""
        found = {}
        for _, stat in read_all_statistics(self.kafka, self.kafka.topics.flow_statistics, idle_timeout=1.0):
            if (stat.measure in ("", "moves") and stat.destination_country == DESTINATION
                    and stat.origin_country in ORIGINS and stat.profession_group != "_T"
                    and stat.country_of_training in ("", "_T")):
                # In order: a later release replaces an earlier one.
                found[(stat.period, stat.origin_country, stat.profession_group)] = stat
        counted = totals({cell: stat.value for cell, stat in found.items()})
        if counted != self.last:
            self.last, self.changed_at = counted, time.monotonic()
        self.by_origin = {origin: (sum(stat.value for cell, stat in found.items() if cell[1] == origin),
                                   sum(n for cell, n in self.truth.items() if cell[1] == origin)) for origin in ORIGINS}
        complete = all(counted.get(month, 0) >= n for month, n in totals(self.truth).items())
        return found if complete or (found and time.monotonic() - self.changed_at > STEADY_S) else None

    def wait(self, what: str, services: tuple[Service, ...]) -> dict[Cell, moves_pb2.FlowStatistic]:
        try:
            return wait_for(what, self, timeout=240, services=services)
        except AssertionError as exc:
            raise AssertionError("moves counted %s, true %s; by issuing country (counted, true) %s: %s" % (
                self.last, totals(self.truth), self.by_origin, exc)) from None

    def assert_exact(self, published: dict[Cell, moves_pb2.FlowStatistic]) -> None:
        wrong = {cell: (stat.value, self.truth[cell]) for cell, stat in published.items()
                 if stat.suppressed or stat.value != self.truth[cell]}
        assert wrong == {}, "counts differ from the true counts (published, true): %s; by issuing country %s" % (
            wrong, self.by_origin)
        assert set(self.truth) <= set(published), "never published: %s" % sorted(set(self.truth) - set(published))


def on_topic(bootstrap: str, topic: str) -> int:
    """How many records ``topic`` holds, asking again while the client's metadata still leads it to a
    broker just killed (kafka-python then raises instead of trying another)."""
    def probe() -> int | None:
        try:
            return end_offsets_total(bootstrap, topic)
        except KafkaError:
            return None
    return wait_for("the end offsets of %s" % topic, probe, timeout=60)


def flows_worker(name: str, env: dict[str, str], cwd: Path) -> Service:
    return Service(name, ["flows", "worker", "--k", "5", "--grace", "1d", "--provisional-interval", "1s",
                          "--data-dir", name + "-state"], env=env, cwd=cwd)


@pytest.mark.timeout(900)
def test_a_broker_killed_mid_bulk_issue_loses_doubles_and_miscounts_nothing(
    cluster: localkafka.LocalKafkaCluster, tmp_path: Path, topics: Topics
) -> None:
    all_up(cluster)
    hub = Hub(cluster, topics, tmp_path)
    # Topics are created with the cluster's replication: three copies, all in sync.
    for topic in (topics.attestations, hub.submitted, topics.verified_moves):
        assert all(len(replicas) == 3 and isr == replicas for replicas, isr in replicas_of(hub.bootstrap, topic)), topic
    write_register(tmp_path / "register.csv", ROWS)
    moves = make_moves(MOVES, seed=1)
    hub.start()
    worker = flows_worker("flows", hub.env, tmp_path)
    feeder = MoveFeeder(hub.kafka, moves)
    try:
        bulk = hub.bulk("bulk")
        feeder.start()
        wait_for("the bulk issue to be under way", lambda: True if end_offsets_total(
            hub.bootstrap, hub.submitted) >= 2_000 else None, timeout=180, services=(bulk,))
        victim = cluster.broker(VICTIM)
        victim.kill()
        on_hub_at_kill = on_topic(hub.bootstrap, hub.submitted)
        # The hub goes on confirming on the two brokers left (two in sync: enough) ...
        wait_for("rows confirmed with a broker down", lambda: True if on_topic(
            hub.bootstrap, hub.submitted) >= on_hub_at_kill + 2_000 or bulk.process.poll() is not None else None,
            timeout=180, services=(worker,))
        # ... and the broker comes back on its data, catching up from the others.
        victim.start()
        exit_code = bulk.process.wait(timeout=600)
        output = bulk.log()
        assert exit_code in (0, 1), output[-3000:]
        confirmed, unconfirmed = bulk_summary(output)
        assert confirmed + len(unconfirmed) == ROWS, output[-3000:]
        assert on_hub_at_kill < ROWS, "the broker should die before the bulk issue ends"

        # (1) Every row reported confirmed is on the council's topic, none twice; what was not confirmed
        # was reported, and a re-run of the same file sends exactly that.
        on_hub = Counter(key.decode() for key, _ in read_all(hub.bootstrap, hub.submitted))
        assert [key for key, n in on_hub.items() if n > 1] == [], "rows written twice"
        lost = [n for n in range(ROWS) if "KE-NCK/%d" % (40000 + n) not in on_hub
                and "KE-NCK/%d" % (40000 + n) not in unconfirmed]
        assert lost == [], "%d rows reported confirmed are not on the hub, e.g. %s" % (len(lost), lost[:3])
        if unconfirmed:
            rerun = hub.bulk("bulk-again")
            assert rerun.process.wait(timeout=300) == 0, rerun.log()[-3000:]
            assert bulk_summary(rerun.log())[0] == ROWS

        # (2) The admission admitted each once, and the registry ingested each once.
        hub.wait_ingested(ROWS)
        admitted = Counter(key for key, _ in read_all(hub.bootstrap, topics.attestations))
        assert len(admitted) == ROWS and max(admitted.values()) == 1, "admitted twice: %s" % (
            [k for k, n in admitted.items() if n > 1][:3])
        assert hub.stored() == (ROWS, 0)
        assert hub.accepted_total() == ROWS

        # (3) Every move confirmed is counted once: the final counts equal the true counts.
        feeder.join(timeout=300)
        assert feeder.failure is None, feeder.failure
        if feeder.unconfirmed:
            producer = ConfirmingProducer(hub.kafka, client_id="test-moves-again")
            assert all(d.confirmed for d in producer.publish(move_records(topics, feeder.unconfirmed)))
            producer.close()
        statistics = LatestStatistics(hub.kafka, moves)
        statistics.assert_exact(statistics.wait("flow statistics counting every move", services=(worker,)))
    finally:
        worker.stop()
        hub.stop()


@pytest.mark.timeout(600)
def test_with_two_brokers_down_nothing_is_confirmed_and_after_their_restart_everything_is(
    cluster: localkafka.LocalKafkaCluster, tmp_path: Path, topics: Topics
) -> None:
    all_up(cluster)
    hub = Hub(cluster, topics, tmp_path)
    rows = 300
    write_register(tmp_path / "register.csv", rows)
    hub.start()
    lost = [cluster.broker(2), cluster.broker(3)]
    try:
        for broker in lost:
            broker.kill()
        # Once the controller has fenced them, broker 1 leads every partition and is its only in-sync copy.
        wait_for("the two brokers' replicas to leave the in-sync sets",
                 lambda: in_sync_only_on(cluster.broker(1), hub.submitted), timeout=60)
        bulk = hub.bulk("bulk")
        # It refuses to append (min.insync.replicas 2), and the council's producer says why while it retries.
        wait_for("the producer to be refused for want of in-sync replicas",
                 lambda: True if "NotEnoughReplicas" in bulk.log() else None, timeout=90, services=(bulk,))
        assert on_topic(hub.bootstrap, hub.submitted) == 0, "one broker alone accepted a write"
        bulk.assert_running()  # still trying, reporting nothing confirmed
        for broker in lost:
            broker.start()
        # Still within its delivery timeout, the same producer gets every row confirmed.
        assert bulk.process.wait(timeout=300) == 0, bulk.log()[-3000:]
        assert bulk_summary(bulk.log()) == (rows, set())
        on_hub = Counter(key for key, _ in read_all(hub.bootstrap, hub.submitted))
        assert len(on_hub) == rows and max(on_hub.values()) == 1
        hub.wait_ingested(rows)
        assert hub.stored() == (rows, 0)
    finally:
        hub.stop()


@pytest.mark.timeout(600)
def test_two_flows_workers_share_the_moves_and_the_one_left_counts_every_move_once(
    cluster: localkafka.LocalKafkaCluster, tmp_path: Path, topics: Topics
) -> None:
    all_up(cluster)
    kafka = KafkaSettings(cluster.bootstrap, topics)
    ensure_topics(kafka)
    moves = make_moves(20_000, seed=2)
    sent = moves + random.Random(3).sample(moves, 2_000)  # redelivered: counted once all the same
    random.Random(4).shuffle(sent)
    env = cli_env(cluster.bootstrap, topics.prefix)
    group = topics.prefix.replace(".", "-") + "credverify-flowstats"
    first, second = flows_worker("flows-1", env, tmp_path), flows_worker("flows-2", env, tmp_path)
    admin = new_admin(kafka, "test-group-watcher")
    feeder = MoveFeeder(kafka, sent, batch=500)
    try:
        def held() -> dict[str, int] | None:
            """Members of the workers' group with how many moves partitions each holds; None while the
            group's coordinator is not there yet (the workers are still starting)."""
            try:
                described = admin.describe_groups([group])[group]
            except KafkaError:
                return None
            return {member["member_id"]: sum(len(assigned["partitions"]) for assigned in
                                             member["member_assignment"]["assigned_partitions"]
                                             if assigned["topic"] == topics.verified_moves)
                    for member in described["members"] if member["member_assignment"]}

        def sharing() -> dict[str, int] | None:
            """The members and their partitions once both hold some."""
            members = held()
            return members if members is not None and len(members) == 2 and all(members.values()) and sum(
                members.values()) == 3 else None

        def committed() -> int:
            offsets = admin.list_group_offsets({group: None}).get(group, {})
            return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topics.verified_moves
                       and meta.offset > 0)

        wait_for("both workers to hold part of the moves", sharing, timeout=120, services=(first, second))
        # Their state is replicated as the cluster allows, though nobody gave a replication factor.
        assert all(len(replicas) == 3 for replicas, _ in replicas_of(cluster.bootstrap, group + "-counted-changelog"))
        feeder.start()
        # Killed mid-stream: after both have counted and committed some, long before the last move is sent.
        wait_for("the workers to count part of the moves", lambda: True if feeder.sent >= 6_000 and committed() > 0
                 else None, timeout=120, services=(first, second))
        first.process.kill()
        first.process.wait()
        assert feeder.is_alive(), "the worker should be killed before the last move is sent"
        wait_for("the worker left to hold every partition of the moves", lambda: True if (
            (members := held()) is not None and list(members.values()) == [3]) else None,
            timeout=120, services=(second,))
        feeder.join(timeout=300)
        assert feeder.failure is None and feeder.unconfirmed == [], feeder.failure
        statistics = LatestStatistics(kafka, moves)
        statistics.assert_exact(statistics.wait("flow statistics from the worker left", services=(second,)))
    finally:
        admin.close()
        first.stop()
        second.stop()
