#!/usr/bin/env python3
"""A real Apache Kafka broker (KRaft, broker+controller in one process) from Maven jars.

No Docker needed: the jars that ``pom.xml`` pins are resolved once with Maven
into a cache outside the work tree, the storage is formatted, and
``kafka.Kafka`` is started on 127.0.0.1. The broker counts as up only when it
answers a metadata request, not when its log says so.

    python deploy/kafka/localkafka.py fetch          # resolve the jars (once)
    python deploy/kafka/localkafka.py up [--port N]  # start in the background, print bootstrap
    python deploy/kafka/localkafka.py down           # stop it cleanly
    python deploy/kafka/localkafka.py run            # foreground, Ctrl-C stops
    python deploy/kafka/localkafka.py cluster --brokers 3   # a cluster in the background
    python deploy/kafka/localkafka.py cluster-down          # stop it cleanly

A cluster (``LocalKafkaCluster``) is three brokers (``--brokers``) and a KRaft controller of its own,
all on loopback, from the same jars: replication factor 3, ``min.insync.replicas=2`` and unclean leader
election off, so a record a producer saw confirmed is on two brokers at least, and with two brokers
lost producers are refused (not enough in-sync replicas) rather than confirmed on one. The controller
runs apart from the brokers, as the controller pool of a production cluster does, so that losing
brokers never takes the metadata quorum with them (``--controllers 3`` for a quorum that survives
losing a controller too).

The broker is closed as the hub is: clients authenticate with SASL/SCRAM-SHA-512 on a loopback
listener and ACLs (KRaft's StandardAuthorizer, nothing allowed without an ACL) decide what each
principal may do. The operator (``credverify-operator``) is the one super user; its random password
is kept 0600 in the state dir, and ``up`` writes ``operator.env`` there (``. operator.env`` in a
shell, then ``credverify trust ...``). Other principals are made with ``credverify trust grant`` and
``register-issuer``.

Importable too (the test fixture and the demo use ``LocalKafka``). Standard
library only, apart from kafka-python for the readiness probe.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("localkafka")

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
# Outside the tracked tree so a fresh clone reuses what an earlier run fetched.
CACHE_ROOT = Path(os.environ.get("CREDVERIFY_CACHE", Path.home() / ".cache" / "credverify"))
# Enough for tests and the demo on a 2-core machine; the stock scripts use 1 GiB.
DEFAULT_HEAP = os.environ.get("CREDVERIFY_KAFKA_HEAP", "512m")
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
DEFAULT_STATE_DIR = Path(os.environ.get("CREDVERIFY_KAFKA_DIR", CACHE_ROOT / "local-broker"))
# The federation operator: the broker's one super user, and the principal the broker itself uses
# between its listeners. Every other principal is made by `credverify trust` with ACLs of its role.
OPERATOR = "credverify-operator"
# Kafka's names for the settings a client reads (see credverify.core.settings.KafkaSecurity).
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"

LOG4J2_PROPERTIES = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class KafkaUnavailable(RuntimeError):
    """The local broker could not be fetched or started; the message says what to install."""


def jar_dir() -> Path:
    """Return the folder that holds the jars for the pinned pom, resolving them if missing."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    target = CACHE_ROOT / f"kafka-jars-{digest}"
    if (target / ".complete").exists():
        return target
    if shutil.which("java") is None:
        raise KafkaUnavailable("java not found: install a JDK 17 (e.g. apt-get install openjdk-17-jre-headless)")
    if shutil.which("mvn") is None:
        raise KafkaUnavailable("mvn not found: install Maven (e.g. apt-get install maven) to fetch the Kafka jars")
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    # Two test workers or a test run and the demo may race to fetch: one fetches, the other waits.
    with open(CACHE_ROOT / ".kafka-jars.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            return target
        staging = Path(tempfile.mkdtemp(prefix="kafka-jars-", dir=CACHE_ROOT))
        logger.info("resolving Kafka jars with Maven into %s", target)
        cmd = [
            "mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise KafkaUnavailable(
                "maven could not resolve the Kafka jars (is Maven Central reachable?):\n"
                + (result.stdout + result.stderr)[-3000:]
            )
        (staging / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def new_cluster_id() -> str:
    """Return a random KRaft cluster id (16 bytes, URL-safe base64 without padding) that does not start
    with '-': the storage tool's argument parser would take such an id for an option (1 start in 64)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def sasl_client_settings(username: str, password: str) -> dict[str, str]:
    """kafka-python settings of a SCRAM client on the local broker's loopback listener."""
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": SCRAM_MECHANISM,
            "sasl_plain_username": username, "sasl_plain_password": password}


def broker_answers(bootstrap: str, timeout_s: float = 5.0, client: dict[str, str] | None = None) -> bool:
    """Return True when a metadata request to ``bootstrap`` succeeds (authenticated with ``client``'s
    settings when given: on a secured broker a stranger's probe gets no answer)."""
    from kafka import KafkaAdminClient  # the probe needs a real client round trip

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_s * 1000),
            **(client or {}),
        )
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    try:
        admin.describe_cluster()
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        admin.close()


@dataclass
class LocalKafka:
    """One broker+controller process; ``state_dir`` holds its data, config and log."""

    state_dir: Path
    port: int = 0
    heap: str = DEFAULT_HEAP
    controller_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    ready_after_s: float | None = None
    # Broker settings merged over the defaults below (e.g. ``message.max.bytes`` for a test
    # that needs a larger limit); strings, in server.properties' own names.
    extra_config: dict[str, str] = field(default_factory=dict)
    # Authentication (SASL/SCRAM-SHA-512) and ACLs on, as on the real hub.
    secure: bool = True
    # In a cluster: this node's id and role ("combined": broker and controller in one process, the
    # single broker; "broker"; "controller"), the quorum's voters ("id@host:port,..."), the cluster id
    # every node is formatted with, and the password file the nodes share.
    node_id: int = 1
    role: str = "combined"
    quorum_voters: str | None = None
    cluster_id: str | None = None
    shared_password_file: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"

    @property
    def operator_password_file(self) -> Path:
        return self.shared_password_file or self.state_dir / "operator.password"

    @property
    def operator_password(self) -> str:
        """The operator's password, made (random, 0600) on first use and kept with the broker's data,
        so a restart of the same broker finds the credential it was formatted with."""
        path = self.operator_password_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
        return path.read_text().strip()

    def operator_client_settings(self) -> dict[str, str]:
        """kafka-python settings that authenticate as the operator (empty on an open broker)."""
        return sasl_client_settings(OPERATOR, self.operator_password) if self.secure else {}

    def operator_env(self) -> dict[str, str]:
        """The environment (Kafka's names, as credverify reads them) of a client acting as the operator."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}
        if self.secure:
            env.update(KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SASL_MECHANISM=SCRAM_MECHANISM,
                       KAFKA_SASL_USERNAME=OPERATOR, KAFKA_SASL_PASSWORD=self.operator_password)
        return env

    def operator_security(self):  # type: ignore[no-untyped-def]
        """Return a credverify ``KafkaSecurity`` for the operator (PLAINTEXT on an open broker)."""
        from credverify.core.settings import KafkaSecurity  # this file stays importable without credverify

        if not self.secure:
            return KafkaSecurity()
        return KafkaSecurity.sasl(OPERATOR, self.operator_password, mechanism=SCRAM_MECHANISM)

    def _listeners(self, protocol: str, controller_port: int) -> dict[str, str]:
        """Where this node listens, by its role: clients on ``port``, the quorum on ``controller_port``."""
        client = f"{protocol}://127.0.0.1:{self.port}"
        controller = f"CONTROLLER://127.0.0.1:{controller_port}"
        if self.role == "controller":
            return {"listeners": controller, "listener.security.protocol.map": f"CONTROLLER:{protocol}"}
        return {
            "listeners": client if self.role == "broker" else f"{client},{controller}",
            "advertised.listeners": client,
            "listener.security.protocol.map": f"{protocol}:{protocol},CONTROLLER:{protocol}",
            "inter.broker.listener.name": protocol,
        }

    def _listener_config(self, controller_port: int) -> dict[str, str]:
        if not self.secure:
            return self._listeners("PLAINTEXT", controller_port)
        password = self.operator_password
        config = self._listeners("SASL_PLAINTEXT", controller_port)
        if self.role != "controller":
            config.update({
                # Clients and the broker's own inter-broker traffic: SCRAM on loopback.
                "sasl.enabled.mechanisms": SCRAM_MECHANISM,
                "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
                "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config":
                    f'{SCRAM_LOGIN} required username="{OPERATOR}" password="{password}";',
            })
        config.update({
            # The controller serves the metadata log that holds the SCRAM credentials, so it cannot
            # check SCRAM itself: PLAIN with one static user (the operator), loopback only.
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config":
                f'{PLAIN_LOGIN} required username="{OPERATOR}" password="{password}" '
                f'user_{OPERATOR}="{password}";',
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{OPERATOR}",
        })
        return config

    def _write_config(self, controller_port: int) -> Path:
        data = self.state_dir / "data"
        props = {
            "process.roles": {"combined": "broker,controller"}.get(self.role, self.role),
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.quorum_voters or f"{self.node_id}@127.0.0.1:{controller_port}",
            "controller.listener.names": "CONTROLLER",
            **self._listener_config(controller_port),
            "log.dirs": str(data),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            # Small segments so compaction is observable in tests; harmless otherwise.
            "log.cleaner.backoff.ms": "1000",
        }
        props.update(self.extra_config)
        path = self.state_dir / "server.properties"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the operator's password
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.state_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES.format(log_file=self.log_file))
        return path

    def _java(self, jars: Path, main: str, *args: str) -> list[str]:
        return [
            "java", f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile=file:{self.state_dir / 'log4j2.properties'}",
            "-Dlog4j2.disable.jmx=true",
            "-cp", f"{jars}/*", main, *args,
        ]

    def start(self) -> LocalKafka:
        """Format storage (first start only) and start the broker; return once it answers metadata.

        Starting again after ``stop()`` reuses the same ports and data: a broker restart."""
        started = time.monotonic()
        self.launch()
        return self.wait_ready(started)

    def launch(self) -> None:
        """Format storage (first start only) and start the process without waiting for it: the nodes
        of a cluster start together, since a broker waits for its controller quorum."""
        jars = jar_dir()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        if not self.controller_port:
            self.controller_port = free_port()
        config = self._write_config(self.controller_port)
        mode_file = self.state_dir / "security-mode"
        mode = "scram+acls" if self.secure else "open"
        if not (self.state_dir / "data" / "meta.properties").exists():
            self._format(jars, config)
            mode_file.write_text(mode + "\n")
        else:
            # A broker formatted before the hub was closed has no mode file: it was open.
            found = mode_file.read_text().strip() if mode_file.exists() else "open"
            if found != mode:
                raise KafkaUnavailable(f"{self.state_dir} holds a broker formatted as {found}, not {mode}: "
                                       f"use another --dir or remove it")
        out = open(self.state_dir / "stdout.log", "ab")
        self.process = subprocess.Popen(
            self._java(jars, "kafka.Kafka", str(config)),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal goes to us; we stop it cleanly
        )
        (self.state_dir / "broker.json").write_text(
            json.dumps({"pid": self.process.pid, "bootstrap": self.bootstrap, "secure": self.secure})
        )

    def answers(self) -> bool:
        """True when this node does its part: a broker answers an authenticated metadata request, a
        controller accepts connections on its quorum listener."""
        if self.role == "controller":
            return port_open(self.controller_port)
        # A cheap TCP check first: the client's own bootstrap backoff grows to seconds,
        # which would add that much to every start.
        return port_open(self.port) and broker_answers(self.bootstrap, timeout_s=2.0,
                                                       client=self.operator_client_settings())

    def wait_ready(self, started: float) -> LocalKafka:
        """Return once the launched process answers; stop it and raise KafkaUnavailable when it exits or
        does not answer within READY_TIMEOUT_S of ``started``."""
        assert self.process is not None, "launch() first"
        deadline = started + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KafkaUnavailable(
                    f"kafka exited with code {self.process.returncode} during start-up; "
                    f"see {self.log_file} and {self.state_dir / 'stdout.log'}"
                )
            if self.answers():
                self.ready_after_s = time.monotonic() - started
                logger.info("kafka node %d (%s) ready at %s after %.1f s", self.node_id, self.role,
                            self.bootstrap, self.ready_after_s)
                return self
            time.sleep(0.1)
        self.stop()
        raise KafkaUnavailable(f"kafka did not answer within {READY_TIMEOUT_S:.0f} s; see {self.log_file}")

    def kill(self) -> None:
        """SIGKILL: the node dies as a machine that loses power does, without a controlled shutdown.
        ``start()`` brings it back on the same ports and data."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        self.process = None
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "broker.json").unlink()

    def _format(self, jars: Path, config: Path) -> None:
        """Format the KRaft storage; on a secured broker with the operator's SCRAM credential in the
        first metadata records (the broker needs it to talk to itself before any admin call works)."""
        scram = (["--add-scram", f"{SCRAM_MECHANISM}=[name={OPERATOR},password={self.operator_password}]"]
                 if self.secure else [])
        fmt = subprocess.run(
            self._java(jars, "kafka.tools.StorageTool", "format", "-t", self.cluster_id or new_cluster_id(),
                       "-c", str(config), "--ignore-formatted", *scram),
            capture_output=True, text=True,
        )
        if fmt.returncode != 0:
            raise KafkaUnavailable(f"formatting KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")

    def stop(self) -> None:
        """SIGTERM (a controlled shutdown), then SIGKILL if it does not exit in time."""
        if self.process is None:
            return
        stop_pid(self.process.pid, wait=self.process.wait)
        self.process = None
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "broker.json").unlink()

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_pid(pid: int, wait=None) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if wait is not None:
            try:
                wait(timeout=0.2)
                return
            except subprocess.TimeoutExpired:
                continue
        if not _pid_alive(pid):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if wait is not None:
        wait()


# A cluster's defaults: three copies of every partition, a write confirmed only once two hold it, and
# a replica that missed writes never elected leader (it would silently drop what others confirmed).
CLUSTER_BROKERS = 3
CLUSTER_REPLICATION_FACTOR = 3
CLUSTER_MIN_INSYNC_REPLICAS = 2
# Node ids of controllers that run apart from the brokers (brokers are 1..N).
CONTROLLER_ID_BASE = 100
# A controller only keeps metadata: a quarter GiB is plenty; four JVMs on a 2-core machine add up.
CONTROLLER_HEAP = "256m"
CLUSTER_BROKER_HEAP = os.environ.get("CREDVERIFY_KAFKA_CLUSTER_HEAP", "384m")
DEFAULT_CLUSTER_DIR = Path(os.environ.get("CREDVERIFY_KAFKA_CLUSTER_DIR", CACHE_ROOT / "local-cluster"))
DEFAULT_CLUSTER_PORT = 9192


@dataclass(frozen=True)
class Replication:
    """How many copies of each partition a cluster keeps and how many must hold a write to confirm it."""

    factor: int
    min_insync: int

    @classmethod
    def for_cluster(cls, brokers: int, factor: int | None = None, min_insync: int | None = None) -> Replication:
        """The cluster's replication (by default 3 copies, 2 in sync, fewer on fewer brokers), checked
        against its ``brokers``: raises ValueError for a factor the brokers cannot hold, since Kafka
        would refuse to create any topic rather than wait for brokers that never come."""
        if brokers < 1:
            raise ValueError(f"a cluster needs at least 1 broker, found {brokers}")
        factor = min(CLUSTER_REPLICATION_FACTOR, brokers) if factor is None else factor
        if not 1 <= factor <= brokers:
            raise ValueError(f"replication factor {factor} needs {factor} brokers, the cluster has {brokers}")
        min_insync = min(CLUSTER_MIN_INSYNC_REPLICAS, factor) if min_insync is None else min_insync
        if not 1 <= min_insync <= factor:
            raise ValueError(f"min.insync.replicas {min_insync} must be between 1 and the replication factor "
                             f"{factor}")
        return cls(factor, min_insync)

    def broker_config(self) -> dict[str, str]:
        """The broker settings that make every topic, Kafka's own included, replicated so."""
        factor, min_insync = str(self.factor), str(self.min_insync)
        return {
            "default.replication.factor": factor,
            "min.insync.replicas": min_insync,
            "unclean.leader.election.enable": "false",
            "offsets.topic.replication.factor": factor,
            "transaction.state.log.replication.factor": factor,
            "transaction.state.log.min.isr": min_insync,
            "share.coordinator.state.topic.replication.factor": factor,
            "share.coordinator.state.topic.min.isr": min_insync,
        }


@dataclass
class LocalKafkaCluster:
    """Brokers 1..``brokers`` and a KRaft controller quorum of ``controllers`` nodes, each a process of
    its own under ``state_dir``, closed as the single broker is (one operator password for all)."""

    state_dir: Path
    brokers: int = CLUSTER_BROKERS
    controllers: int = 1
    replication: Replication | None = None
    # Client port of broker 1; broker n listens on first_port + n - 1. 0: free ports.
    first_port: int = 0
    heap: str = CLUSTER_BROKER_HEAP
    secure: bool = True
    extra_config: dict[str, str] = field(default_factory=dict)
    nodes: list[LocalKafka] = field(default_factory=list)
    controller_nodes: list[LocalKafka] = field(default_factory=list)
    ready_after_s: float | None = None

    def __post_init__(self) -> None:
        if self.replication is None:
            self.replication = Replication.for_cluster(self.brokers)
        elif self.replication.factor > self.brokers:
            raise ValueError(f"replication factor {self.replication.factor} needs {self.replication.factor} "
                             f"brokers, the cluster has {self.brokers}")
        if self.controllers < 1:
            raise ValueError(f"a cluster needs at least 1 controller, found {self.controllers}")
        password_file = self.state_dir / "operator.password"
        cluster_id = self._cluster_id()
        # The controllers need the replication settings as much as the brokers: in KRaft the controller
        # picks the replication factor of a topic created with the default (-1), and writes the
        # cluster-wide min.insync.replicas from its own configuration.
        config = {**self.replication.broker_config(), **self.extra_config}
        self.controller_nodes = [
            LocalKafka(state_dir=self.state_dir / f"controller-{n}", heap=CONTROLLER_HEAP, secure=self.secure,
                       node_id=CONTROLLER_ID_BASE + n, role="controller", cluster_id=cluster_id,
                       shared_password_file=password_file, controller_port=free_port(),
                       extra_config=dict(config))
            for n in range(1, self.controllers + 1)
        ]
        voters = ",".join(f"{c.node_id}@127.0.0.1:{c.controller_port}" for c in self.controller_nodes)
        for controller in self.controller_nodes:
            controller.quorum_voters = voters
        self.nodes = [
            LocalKafka(state_dir=self.state_dir / f"broker-{n}", heap=self.heap, secure=self.secure, node_id=n,
                       role="broker", quorum_voters=voters, cluster_id=cluster_id,
                       shared_password_file=password_file, extra_config=dict(config),
                       port=self.first_port + n - 1 if self.first_port else 0)
            for n in range(1, self.brokers + 1)
        ]

    def _cluster_id(self) -> str:
        """The id every node is formatted with, kept in the state dir so a restarted cluster keeps it."""
        path = self.state_dir / "cluster-id"
        if not path.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(new_cluster_id() + "\n")
        return path.read_text().strip()

    @property
    def bootstrap(self) -> str:
        """Every broker's address: a client that finds one down tries the next."""
        return ",".join(node.bootstrap for node in self.nodes)

    def broker(self, node_id: int) -> LocalKafka:
        return self.nodes[node_id - 1]

    def operator_client_settings(self) -> dict[str, str]:
        return self.nodes[0].operator_client_settings()

    def operator_env(self) -> dict[str, str]:
        return {**self.nodes[0].operator_env(), "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}

    def operator_security(self):  # type: ignore[no-untyped-def]
        return self.nodes[0].operator_security()

    def start(self) -> LocalKafkaCluster:
        """Start every node (those stopped, on their ports and data); return once each broker answers
        and the controller counts all of them registered. Stops what it started if one fails."""
        started = time.monotonic()
        try:
            for node in self.controller_nodes + self.nodes:
                if node.process is None:
                    node.launch()
            for node in self.controller_nodes + self.nodes:
                node.wait_ready(started)
            self.wait_for_brokers(self.brokers, deadline=started + READY_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        self.ready_after_s = time.monotonic() - started
        logger.info("kafka cluster of %d brokers ready at %s after %.1f s", self.brokers, self.bootstrap,
                    self.ready_after_s)
        return self

    def registered_brokers(self) -> set[int]:
        """The ids of the brokers the cluster's metadata lists as alive now (empty when none answers)."""
        from kafka import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000,
                                     **self.operator_client_settings())
        except Exception:  # noqa: BLE001 - no broker answers: none registered
            return set()
        try:
            return {int(b["broker_id"]) for b in admin.describe_cluster()["brokers"]}
        except Exception:  # noqa: BLE001
            return set()
        finally:
            admin.close()

    def wait_for_brokers(self, count: int, *, deadline: float) -> None:
        """Return once ``count`` brokers are registered; raise KafkaUnavailable at ``deadline``."""
        while len(self.registered_brokers()) < count:
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"the cluster at {self.bootstrap} did not register {count} brokers in time; "
                                       f"see {self.state_dir}/*/server.log")
            time.sleep(0.2)

    def under_replicated(self) -> dict[str, int] | None:
        """Per topic, how many partitions have fewer in-sync replicas than replicas (only topics with
        any); None when no broker answers. After a broker comes back, {} means it has caught up."""
        from kafka import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000,
                                     **self.operator_client_settings())
        except Exception:  # noqa: BLE001 - no broker answers
            return None
        try:
            lagging = {}
            for topic in admin.describe_topics():
                behind = sum(1 for p in topic["partitions"] if len(p["isr_nodes"]) < len(p["replica_nodes"]))
                if behind:
                    lagging[topic["name"]] = behind
            return lagging
        except Exception:  # noqa: BLE001
            return None
        finally:
            admin.close()

    def wait_in_sync(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Return once every partition has all its replicas in sync; raise KafkaUnavailable after
        ``timeout_s`` naming the topics still behind."""
        deadline = time.monotonic() + timeout_s
        while (lagging := self.under_replicated()) != {}:
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"replicas still out of sync after {timeout_s:.0f} s: {lagging}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the brokers (controlled shutdowns, the controller still there to move leaders), then
        the controllers."""
        for node in self.nodes + self.controller_nodes:
            node.stop()
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "cluster.json").unlink()

    def __enter__(self) -> LocalKafkaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> dict[str, object]:
        return {"bootstrap": self.bootstrap, "secure": self.secure,
                "pids": [n.process.pid for n in self.controller_nodes + self.nodes if n.process is not None],
                "replication_factor": self.replication.factor if self.replication else None,
                "min_insync_replicas": self.replication.min_insync if self.replication else None}


def write_env_file(broker: LocalKafka | LocalKafkaCluster, path: Path) -> None:
    """Write the operator's client environment (``export`` lines, 0600) for using the broker by hand."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"export {k}={v}\n" for k, v in broker.operator_env().items()))
    os.chmod(path, 0o600)


def _running(state_file: Path) -> dict[str, object] | None:
    if not state_file.exists():
        return None
    info: dict[str, object] = json.loads(state_file.read_text())
    return info


def _status(args: argparse.Namespace, info: dict[str, object]) -> int:
    client = sasl_client_settings(OPERATOR, LocalKafka(state_dir=args.dir).operator_password) \
        if info.get("secure", False) else None
    alive = _pid_alive(int(str(info["pid"]))) and broker_answers(str(info["bootstrap"]), client=client)
    print(f"{info['bootstrap']} {'up' if alive else 'not answering'}")
    return 0 if alive else 1


def _down(state_file: Path, info: dict[str, object]) -> int:
    stop_pid(int(str(info["pid"])))
    state_file.unlink()
    print("local broker stopped")
    return 0


def _up(args: argparse.Namespace) -> int:
    broker = LocalKafka(state_dir=args.dir, port=args.port, secure=not args.insecure).start()
    print(f"kafka {broker.bootstrap} ready in {broker.ready_after_s:.1f} s (log: {broker.log_file})")
    if broker.secure:
        env_file = args.dir / "operator.env"
        write_env_file(broker, env_file)
        print(f"authenticated as the operator ({OPERATOR}, SCRAM-SHA-512, ACLs on): "
              f"`. {env_file}` puts its settings (0600) into your shell")
    if args.command == "up":
        return 0  # the broker lives on in its own session; `down` stops it
    try:
        assert broker.process is not None
        broker.process.wait()
    except KeyboardInterrupt:
        broker.stop()
    return 0


def _cluster_up(args: argparse.Namespace) -> int:
    try:
        replication = Replication.for_cluster(args.brokers, args.replication_factor, args.min_insync_replicas)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cluster = LocalKafkaCluster(state_dir=args.dir, brokers=args.brokers, controllers=args.controllers,
                                replication=replication, first_port=args.port,
                                secure=not args.insecure).start()
    (args.dir / "cluster.json").write_text(json.dumps(cluster.describe()))
    print(f"kafka cluster {cluster.bootstrap} ready in {cluster.ready_after_s:.1f} s: {args.brokers} brokers, "
          f"{args.controllers} controller(s), replication factor {replication.factor}, "
          f"min.insync.replicas {replication.min_insync}, unclean leader election off (logs: {args.dir}/*/)")
    if cluster.secure:
        env_file = args.dir / "operator.env"
        write_env_file(cluster, env_file)
        print(f"authenticated as the operator ({OPERATOR}, SCRAM-SHA-512, ACLs on): "
              f"`. {env_file}` puts its settings (0600) into your shell")
    return 0  # the nodes live on in their own sessions; `cluster-down` stops them


def _cluster_down(state_file: Path, info: dict[str, object] | None) -> int:
    if info is None:
        print("no local cluster running")
        return 0
    for pid in reversed(_cluster_pids(info)):  # brokers first (controlled shutdowns), the controllers last
        stop_pid(pid)
    state_file.unlink()
    print("local cluster stopped")
    return 0


def _cluster_pids(info: dict[str, object] | None) -> list[int]:
    found = info.get("pids", []) if info is not None else []
    return [int(pid) for pid in found] if isinstance(found, list) else []


def _cluster_status(info: dict[str, object] | None) -> int:
    if info is None:
        print("no local cluster running")
        return 1
    pids = _cluster_pids(info)
    alive = [pid for pid in pids if _pid_alive(pid)]
    print(f"{info['bootstrap']}: {len(alive)} of {len(pids)} nodes running")
    return 0 if len(alive) == len(pids) else 1


def _cluster_dispatch(args: argparse.Namespace) -> int:
    state_file = args.dir / "cluster.json"
    info = _running(state_file)
    if args.command == "cluster-down":
        return _cluster_down(state_file, info)
    if args.command == "cluster-status":
        return _cluster_status(info)
    if info is not None and any(_pid_alive(pid) for pid in _cluster_pids(info)):
        print(f"a local cluster is already running at {info['bootstrap']}")
        return 0
    return _cluster_up(args)


def _with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill in --dir and --port: a cluster's differ from the single broker's, so both run side by side."""
    if args.command.startswith("cluster"):
        args.dir = args.dir or DEFAULT_CLUSTER_DIR
        args.port = args.port or DEFAULT_CLUSTER_PORT
    else:
        args.dir = args.dir or DEFAULT_STATE_DIR
        args.port = args.port or 9092
    return args


def _dispatch(args: argparse.Namespace) -> int:
    state_file = args.dir / "broker.json"
    if args.command == "fetch":
        print(jar_dir())
        return 0
    info = _running(state_file)
    if args.command in ("down", "status"):
        if info is None:
            print("no local broker running")
            return 0 if args.command == "down" else 1
        return _status(args, info) if args.command == "status" else _down(state_file, info)
    if info is not None:
        if _pid_alive(int(str(info["pid"]))):
            print(f"a local broker is already running at {info['bootstrap']} (pid {info['pid']})")
            return 0 if args.command == "up" else 1
        state_file.unlink()
    return _up(args)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # the probe's client chatter
    # SCRAM sends a proof, never the password; the client warns about any SASL without TLS all the same.
    logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["fetch", "up", "down", "run", "status",
                                            "cluster", "cluster-down", "cluster-status"])
    parser.add_argument("--port", type=int, default=0,
                        help=f"client port (default 9092; a cluster's brokers from {DEFAULT_CLUSTER_PORT} on)")
    parser.add_argument("--dir", type=Path, default=None,
                        help=f"data, config and logs (default {DEFAULT_STATE_DIR}; a cluster's {DEFAULT_CLUSTER_DIR})")
    parser.add_argument("--brokers", type=int, default=CLUSTER_BROKERS, help="a cluster's brokers (default 3)")
    parser.add_argument("--controllers", type=int, default=1,
                        help="a cluster's KRaft controllers, apart from the brokers (default 1; 3 for a quorum)")
    parser.add_argument("--replication-factor", type=int, default=None,
                        help="copies of every partition (default 3, at most the brokers)")
    parser.add_argument("--min-insync-replicas", type=int, default=None,
                        help="copies that must hold a write before it is confirmed (default 2)")
    parser.add_argument("--insecure", action="store_true",
                        help="no authentication and no ACLs (only to compare; the hub is never run so)")
    args = _with_defaults(parser.parse_args(argv))
    try:
        return _cluster_dispatch(args) if args.command.startswith("cluster") else _dispatch(args)
    except KafkaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
