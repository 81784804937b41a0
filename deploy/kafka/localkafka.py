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

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"

    @property
    def operator_password_file(self) -> Path:
        return self.state_dir / "operator.password"

    @property
    def operator_password(self) -> str:
        """The operator's password, made (random, 0600) on first use and kept with the broker's data,
        so a restart of the same broker finds the credential it was formatted with."""
        path = self.operator_password_file
        if not path.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
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

    def _listener_config(self, controller_port: int) -> dict[str, str]:
        if not self.secure:
            return {
                "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name": "PLAINTEXT",
            }
        password = self.operator_password
        return {
            # Clients and the broker's own inter-broker traffic: SCRAM on loopback.
            "listeners": f"SASL_PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config":
                f'{SCRAM_LOGIN} required username="{OPERATOR}" password="{password}";',
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
        }

    def _write_config(self, controller_port: int) -> Path:
        data = self.state_dir / "data"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
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
        jars = jar_dir()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        if not self.controller_port:
            self.controller_port = free_port()
        config = self._write_config(self.controller_port)
        started = time.monotonic()
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
        deadline = started + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KafkaUnavailable(
                    f"kafka exited with code {self.process.returncode} during start-up; "
                    f"see {self.log_file} and {self.state_dir / 'stdout.log'}"
                )
            # A cheap TCP check first: the client's own bootstrap backoff grows to seconds,
            # which would add that much to every start.
            if port_open(self.port) and broker_answers(self.bootstrap, timeout_s=2.0,
                                                       client=self.operator_client_settings()):
                self.ready_after_s = time.monotonic() - started
                logger.info("kafka ready at %s after %.1f s", self.bootstrap, self.ready_after_s)
                return self
            time.sleep(0.1)
        self.stop()
        raise KafkaUnavailable(f"kafka did not answer within {READY_TIMEOUT_S:.0f} s; see {self.log_file}")

    def _format(self, jars: Path, config: Path) -> None:
        """Format the KRaft storage; on a secured broker with the operator's SCRAM credential in the
        first metadata records (the broker needs it to talk to itself before any admin call works)."""
        scram = (["--add-scram", f"{SCRAM_MECHANISM}=[name={OPERATOR},password={self.operator_password}]"]
                 if self.secure else [])
        fmt = subprocess.run(
            self._java(jars, "kafka.tools.StorageTool", "format", "-t", new_cluster_id(),
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


def write_env_file(broker: LocalKafka, path: Path) -> None:
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
    parser.add_argument("command", choices=["fetch", "up", "down", "run", "status"])
    parser.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    parser.add_argument("--dir", type=Path, default=DEFAULT_STATE_DIR, help="data, config and log")
    parser.add_argument("--insecure", action="store_true",
                        help="no authentication and no ACLs (only to compare; the hub is never run so)")
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except KafkaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
