"""The demo: a closed Kafka hub, four source councils, a registry in London and the flow statistics.

The hub carries proofs, not people: each council hands every nurse and doctor her own credential (an
SD-JWT VC file and a QR code), the hub's attestations carry only salted digests of her details, and
London learns them when she presents her credential, disclosing only what she chooses.

Everything is real: an Apache Kafka broker (started here unless
$KAFKA_BOOTSTRAP_SERVERS names one, with the operator's credentials in the
environment) with SCRAM authentication and ACLs, each council, the hub's
admission, the registry and the Faust worker authenticating as their own
principal, Ed25519 signatures in DSSE envelopes, gRPC over a socket. The hub's
data directory is kept under .demo/hub, so Kafka's own tools can show what it
carried.

    make demo        (or: .venv/bin/python scripts/demo.py [--no-wait])

Run from a terminal, it keeps the hub, the services and the pages running at the end until Enter.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import functools
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from credverify.core.adapters.kafka import ConfirmingProducer, client_config
from credverify.core.envelope import Signer
from credverify.core.errors import reason_code
from credverify.core.keys import load_signer
from credverify.core.sdjwt import SALT_BYTES, b64url, make_disclosure, present
from credverify.core.settings import PASSPHRASE_ENV, KafkaSecurity, KafkaSettings, read_passphrase
from credverify.core.timefmt import to_date
from credverify.core.topics import Topics
from credverify.flowstats.adapters.kafka_statistics import read_statistics
from credverify.issuer.adapters.credential_files import file_stem
from credverify.issuer.adapters.sqlite_ledger import SqliteIssuedLedger
from credverify.issuer.domain import IssueAttestation
from credverify.issuer.handlers import issue
from credverify.issuer.register_csv import CONDITION_SEPARATOR, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from credverify.localrun import Service, cli_env, free_port, run_cli, serving, wait_for
from credverify.v1 import common_pb2, envelope_pb2, moves_pb2, registry_pb2, registry_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
sys.path.insert(0, str(ROOT))
import localkafka  # noqa: E402

from tests.privacy_scan import personal_data_in  # noqa: E402  (the tests' own scan, every encoding)

DEMO_PASSPHRASE = "demo passphrase, never for real keys"

LICENCE = common_pb2.CREDENTIAL_KIND_LICENCE
ACTIVE = common_pb2.CREDENTIAL_STATUS_ACTIVE
K = 5  # the demo publishes with the default threshold

T = TypeVar("T")

# (issuer id, country, name, kinds, ISCO-08 groups it may attest)
COUNCILS = [
    ("KE-NCK", "KE", "Nursing Council of Kenya", "LICENCE,GOOD_STANDING", "2221,2222,3221"),
    ("RO-CMR", "RO", "Colegiul Medicilor din România", "LICENCE,DIPLOMA,GOOD_STANDING", "2211,2212"),
    ("LK-SLMC", "LK", "Sri Lanka Medical Council", "LICENCE,GOOD_STANDING", "2211,2212,2261"),
    ("TT-NMC", "TT", "Nursing and Midwifery Council of Trinidad and Tobago", "LICENCE", "2221,2222"),
]

# Registers: (family name, given names, date of birth, ISCO-08). Real-looking, entirely invented.
REGISTERS: dict[str, list[tuple[str, str, str, str]]] = {
    "KE-NCK": [
        ("Wanjiru", "Grace Akinyi", "1992-03-14", "2221"),
        ("Otieno", "Brian Ochieng", "1988-11-02", "2221"),
        ("Mwangi", "Faith Wambui", "1990-07-21", "2221"),
        ("Kiprop", "Dennis", "1994-01-30", "2221"),
        ("Achieng", "Mercy", "1991-05-09", "2222"),
        ("Njoroge", "Peter Kamau", "1987-09-17", "2221"),
        ("Chebet", "Sharon", "1995-12-03", "3221"),
        ("Mutua", "Esther Mwende", "1989-02-25", "2221"),
        ("Omondi", "Kevin", "1993-08-11", "2221"),
        ("Wekesa", "Lilian Nafula", "1990-04-06", "2221"),
        ("Kamau", "Joyce Wairimu", "1986-10-19", "2221"),
        ("Nduta", "Ann", "1996-06-28", "2221"),
        ("Barasa", "Ruth Naliaka", "1992-11-15", "2221"),
        ("Kariuki", "James Mwaura", "1985-03-02", "2221"),
    ],
    "RO-CMR": [
        ("Popescu", "Andrei", "1984-02-11", "2211"),
        ("Ionescu", "Maria-Elena", "1987-06-23", "2212"),
        ("Dumitrescu", "Ștefan", "1982-09-04", "2212"),
        ("Stan", "Ioana", "1990-01-17", "2211"),
        ("Gheorghiu", "Radu", "1979-12-30", "2212"),
        ("Matei", "Cristina", "1988-03-08", "2211"),
        ("Constantin", "Alexandru", "1985-05-19", "2212"),
        ("Munteanu", "Bianca", "1991-10-02", "2211"),
    ],
    "LK-SLMC": [
        ("Perera", "Nimal", "1983-04-14", "2212"),
        ("Fernando", "Dilani", "1989-08-22", "2211"),
        ("Silva", "Kasun", "1986-01-05", "2212"),
        ("Jayawardena", "Tharushi", "1991-11-29", "2211"),
        ("Wickramasinghe", "Ruwan", "1980-07-07", "2212"),
        ("Bandara", "Sanduni", "1992-02-16", "2211"),
    ],
    "TT-NMC": [
        ("Ramdass", "Anisa", "1990-09-09", "2221"),
        ("Mohammed", "Keisha", "1993-03-21", "2221"),
        ("Baptiste", "Ria", "1988-12-12", "2221"),
    ],
}


def say(text: str = "") -> None:
    print(text, flush=True)


def section(title: str) -> None:
    say()
    say("== %s %s" % (title, "=" * max(0, 74 - len(title))))


def commands(issuer_id: str, country: str, today: dt.date) -> list[IssueAttestation]:
    """One licence per practitioner on the council's register, with a few realistic exceptions."""
    orders = []
    for n, (family, given, dob, isco) in enumerate(REGISTERS[issuer_id], start=1):
        number = str(10000 + n)
        status, until, reason = ACTIVE, today.replace(year=today.year + 3), ""
        conditions: tuple[str, ...] = ()
        if (issuer_id, n) == ("KE-NCK", 13):
            status, reason = common_pb2.CREDENTIAL_STATUS_SUSPENDED, "FITNESS_TO_PRACTISE_INVESTIGATION"
        if (issuer_id, n) == ("LK-SLMC", 6):
            until = today.replace(year=today.year - 1)
        if (issuer_id, n) == ("RO-CMR", 8):
            status, conditions = (
                common_pb2.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS,
                ("supervised practice, 12 months",),
            )
        orders.append(
            IssueAttestation(
                issuer_id=issuer_id,
                jurisdiction=country,
                local_number=number,
                kind=LICENCE,
                practitioner_number="%s-%s" % (issuer_id.split("-")[1], number),
                family_name=family,
                given_names=given,
                date_of_birth=dt.date.fromisoformat(dob),
                country_of_training=country,
                profession_isco=isco,
                status=status,
                status_reason=reason,
                conditions=conditions,
                valid_from=today.replace(year=today.year - 4),
                valid_until=until,
            )
        )
    return orders


def write_register(path: Path, orders: list[IssueAttestation]) -> None:
    """Write orders as a council's register export, in the CSV layout `credverify issuer bulk` reads."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        for o in orders:
            writer.writerow([
                o.local_number, common_pb2.CredentialKind.Name(o.kind).removeprefix("CREDENTIAL_KIND_"),
                o.practitioner_number, o.family_name, o.given_names, o.date_of_birth, o.country_of_training,
                o.profession_isco, common_pb2.CredentialStatus.Name(o.status).removeprefix("CREDENTIAL_STATUS_"),
                o.valid_from or "", o.valid_until or "", o.status_reason, CONDITION_SEPARATOR.join(o.conditions),
                o.institution, o.programme, o.award_date or "",
            ])


def claimed(family: str, given: str = "", dob: str = "") -> registry_pb2.ClaimedSubject:
    subject = registry_pb2.ClaimedSubject(family_name=family, given_names=given)
    if dob:
        subject.date_of_birth.CopyFrom(to_date(dt.date.fromisoformat(dob)))
    return subject


def reasons(reply: registry_pb2.VerifyResponse) -> str:
    return ", ".join(reason_code(r) for r in reply.reasons)


@dataclass
class Demo:
    """What one scene hands on to the next: the work directory, the hub, and what earlier scenes started.

    A scene that starts a process or opens a client registers its stop with ``cleanup``, so that
    everything is stopped, newest first, when the demo ends, whether it completed or failed."""

    work: Path
    today: dt.date
    cleanup: ExitStack
    bootstrap: str
    topics: Topics
    env: dict[str, str]  # for the operator's `credverify` commands: the hub, the topic prefix, its credentials
    # Set by the scene that opens them; a scene that runs before it fails with AttributeError.
    producer: ConfirmingProducer = field(init=False)  # Kenya's council's own code, in-process (scenes 3 and 6)
    registry: Service = field(init=False)
    registry_target: str = field(init=False)  # host:port of London's RegistryService
    stub: registry_pb2_grpc.RegistryServiceStub = field(init=False)  # London's gRPC client
    insider: KafkaProducer = field(init=False)  # someone holding Kenya's hub password, without its signing key
    period: str = field(init=False)  # YYYY-MM: the month of scene 7's registrations, reported in scene 8
    registers_signed_at: dt.datetime = field(init=False)  # scene 2: when the councils signed their registers

    def cli(self, *args: str, principal: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `credverify ARGS` in the work directory, as the operator or as ``principal`` (the name of
        its credentials file); raise AssertionError with its output if it fails."""
        return run_cli(list(args), env=self.env_of(principal), cwd=self.work)

    def env_of(self, principal: str | None) -> dict[str, str]:
        """The environment of a process that authenticates to the hub as ``principal`` (the operator when
        None): the operator's Kafka settings replaced by those in the principal's credentials file."""
        if principal is None:
            return self.env
        env = {k: v for k, v in self.env.items() if not k.startswith("KAFKA_")}
        env.update(self.credentials(principal))
        return env

    def credentials(self, principal: str) -> dict[str, str]:
        """The Kafka settings the operator handed to ``principal`` (KEY=VALUE lines, as `trust` wrote them)."""
        lines = (self.work / ("%s.kafka.env" % principal.lower())).read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def kafka_as(self, principal: str | None) -> KafkaSettings:
        env = self.env_of(principal)
        return KafkaSettings(self.bootstrap, self.topics, security=KafkaSecurity.from_env(env))

    def signer(self, key_file: str) -> Signer:
        """Open a council's key file with the passphrase the demo made it with."""
        return load_signer(self.work / key_file, passphrase=read_passphrase())

    def issue_in_process(self, order: IssueAttestation, *, key_file: str, ledger: str,
                         now: dt.datetime | None = None) -> None:
        """Sign ``order`` with ``key_file`` and publish it from this process, as a council's own code would
        (``now``: the signing time it claims)."""
        deliveries = issue([order], signer=self.signer(key_file), publisher=self.producer, topics=self.topics,
                           ledger=SqliteIssuedLedger(self.work / ledger), now=now or dt.datetime.now(dt.UTC))
        assert deliveries[0].confirmed

    def verify(self, credential_id: str, subject: registry_pb2.ClaimedSubject | None = None,
               presentation: str = "") -> registry_pb2.VerifyResponse:
        request = registry_pb2.VerifyRequest(credential_id=credential_id, claimed=subject, presentation=presentation)
        reply: registry_pb2.VerifyResponse = self.stub.Verify(request, timeout=5)
        return reply

    def record_registration(self, credential_id: str, registered_on: common_pb2.Date | None = None
                            ) -> registry_pb2.RecordRegistrationResponse:
        """Register an applicant who presents her credential, disclosing her register number and country
        of training (for the pseudonym and the return-migration flag) and nothing else."""
        shown = self.presentation(credential_id, "practitioner_number", "country_of_training")
        request = registry_pb2.RecordRegistrationRequest(credential_id=credential_id, registered_on=registered_on,
                                                         presentation=shown)
        reply: registry_pb2.RecordRegistrationResponse = self.stub.RecordRegistration(request, timeout=10)
        return reply

    def credential_file(self, credential_id: str) -> Path:
        """The file the council handed the practitioner (scene 2)."""
        issuer_id = credential_id.split("/")[0]
        return self.work / ("%s-credentials" % issuer_id.lower()) / (file_stem(credential_id) + ".sd-jwt")

    def presentation(self, credential_id: str, *disclose: str) -> str:
        """What the practitioner hands London: her credential with only the claims in ``disclose`` (made
        here in-process; scene 4 shows the same with `credverify holder present`)."""
        credential = self.credential_file(credential_id).read_text().strip()
        return present(credential, disclose=disclose, now=dt.datetime.now(dt.UTC))

    def until(self, what: str, probe: Callable[[], T | None]) -> T:
        """Wait until London's registry makes ``probe`` return something; fail if the registry exits."""
        return wait_for(what, probe, services=(self.registry,))

    def dead_letters(self) -> list[registry_pb2.RejectedRecord]:
        """Every record the hub's admission or the registry has sent to the dead-letter topic so far."""
        consumer = KafkaConsumer(self.topics.rejected, group_id=None, auto_offset_reset="earliest",
                                 enable_auto_commit=False, **client_config(self.kafka_as(None), "demo-reader"))
        try:
            dead = []
            for _ in range(5):
                for batch in consumer.poll(timeout_ms=300).values():
                    dead += [registry_pb2.RejectedRecord.FromString(r.value) for r in batch]
            return dead
        finally:
            consumer.close()


def open_the_hub(work: Path, cleanup: ExitStack) -> Demo:
    """Set-up: the cluster $KAFKA_BOOTSTRAP_SERVERS names (with topics of the demo's own), else a private broker."""
    section("Kafka hub")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    prefix = ""
    if bootstrap:
        prefix = "demo-%d." % int(time.time())
        say("using the cluster at %s, topics prefixed %r" % (bootstrap, prefix))
        operator: dict[str, str] = {}  # the cluster's operator credentials are in the environment already
    else:
        broker = localkafka.LocalKafka(state_dir=work / "hub")
        cleanup.callback(broker.stop)
        broker.start()
        bootstrap = broker.bootstrap
        operator = broker.operator_env()
        say("Apache Kafka (KRaft) at %s, ready in %.1f s; data in %s" % (
            bootstrap, broker.ready_after_s or 0, (work / "hub").relative_to(ROOT)))
        say("closed: SCRAM-SHA-512 for every client, ACLs for every topic, %s the only super user"
            % operator.get("KAFKA_SASL_USERNAME", "the operator"))
    # Keys are encrypted at rest; a real council reads the passphrase from a secret store.
    os.environ.setdefault(PASSPHRASE_ENV, DEMO_PASSPHRASE)
    return Demo(work=work, today=dt.datetime.now(dt.UTC).date(), cleanup=cleanup, bootstrap=bootstrap,
                topics=Topics(prefix=prefix), env={**cli_env(bootstrap, prefix), **operator})


def federation_admits_councils(demo: Demo) -> None:
    """1. The federation makes its root key and publishes a signed issuer record for each council; admitting
    a council also opens its submission topic on the hub and hands it a credential for that topic alone."""
    section("1. The federation admits four source councils")
    demo.cli("trust", "init-root", "--key", "root.key")
    for issuer_id, country, name, kinds, isco in COUNCILS:
        key = "%s.key" % issuer_id.lower()
        demo.cli("issuer", "keygen", "--key", key)
        out = demo.cli("trust", "register-issuer", "--root-key", "root.key", "--issuer-id", issuer_id,
                       "--country", country, "--name", name, "--kinds", kinds, "--isco", isco,
                       "--issuer-public-key", key.replace(".key", ".pub.pem"),
                       "--hub-credentials-out", "%s.kafka.env" % issuer_id.lower())
        say("  %-8s %-52s may attest ISCO %s" % (issuer_id, name, isco))
        assert "published issuer record" in out.stdout
    say("  each council may write its own %s<ID> topic and nothing else (credentials: <id>.kafka.env)"
        % demo.topics.submissions_prefix)
    for role, name in (("admission", "credverify-admission"), ("registry", "registry-GB"),
                       ("flows", "credverify-flows"), ("statistics", "credverify-portal")):
        demo.cli("trust", "grant", "--role", role, "--name", name,
                 "--hub-credentials-out", "%s.kafka.env" % name.lower())
    say("  the hub's admission, London's registry, the flows worker and the statisticians' portal: each its own "
        "principal and ACLs")
    admission = Service("admission", ["hub", "admit", "--db", "admission.db", "--root-key", "root.pub.pem",
                                      "--log-format", "text"],
                        env=demo.env_of("credverify-admission"), cwd=demo.work)
    demo.cleanup.callback(admission.stop)
    say("  the hub's admission runs: only what it verifies reaches %s" % demo.topics.attestations)


def bulk_publish(demo: Demo, issuer_id: str, country: str) -> str:
    """Sign and publish a council's register file with `credverify issuer bulk`, writing each practitioner's
    credential into <id>-credentials/; return its summary line."""
    name = issuer_id.lower()
    bulk = demo.cli("issuer", "bulk", "--key", "%s.key" % name, "--issuer-id", issuer_id, "--jurisdiction", country,
                    "--register", "%s-register.csv" % name, "--no-progress", "--ledger", "%s.ledger.db" % name,
                    "--credentials-out", "%s-credentials" % name, principal=issuer_id)
    return bulk.stdout.strip().splitlines()[-1]


def councils_publish_registers(demo: Demo) -> None:
    """2. Each council publishes its register in bulk; the same file again publishes nothing; one from the CLI."""
    section("2. Councils sign and publish their registers")
    demo.producer = ConfirmingProducer(demo.kafka_as("KE-NCK"), client_id="demo-kenya")
    demo.cleanup.callback(demo.producer.close)
    for issuer_id, country, *_ in COUNCILS:
        register = "%s-register.csv" % issuer_id.lower()
        write_register(demo.work / register, commands(issuer_id, country, demo.today))
        say("  %-8s %s: %s" % (issuer_id, register, bulk_publish(demo, issuer_id, country)))
    demo.registers_signed_at = dt.datetime.now(dt.UTC)
    say("  KE-NCK   the same file again: " + bulk_publish(demo, "KE-NCK", "KE"))
    grace = demo.credential_file("KE-NCK/10001")
    qr = grace.with_name(grace.name.replace(".sd-jwt", ".qr.png"))
    say("  each practitioner's credential is handed to her: e.g. %s (%d bytes, mode %o) and its QR code %s" % (
        grace.relative_to(ROOT), grace.stat().st_size, grace.stat().st_mode & 0o777, qr.name))
    today = demo.today
    write_subject(demo.work / "kibet.subject", "NCK-900001", "Kibet", "Naomi Jeptoo", "1994-05-01")
    one = demo.cli("issuer", "issue", "--key", "ke-nck.key", "--ledger", "ke-nck.ledger.db", "--issuer-id", "KE-NCK",
                   "--jurisdiction", "KE", "--number", "900001", "--subject-file", "kibet.subject",
                   "--isco", "2222", "--valid-until", str(today.replace(year=today.year + 2)),
                   "--credential-out", "kibet.sd-jwt", principal="KE-NCK")
    say("  from the CLI: " + " / ".join(one.stdout.strip().splitlines()))


def write_subject(path: Path, number: str, family: str, given: str, dob: str, trained_in: str = "KE") -> None:
    """A practitioner's details for `issuer issue --subject-file`: never on a command line, where every
    user of the machine could read them."""
    path.write_text("practitioner_number=%s\nfamily_name=%s\ngiven_names=%s\ndate_of_birth=%s\n"
                    "country_of_training=%s\n" % (number, family, given, dob, trained_in))
    path.chmod(0o600)


def london_registry_starts(demo: Demo) -> None:
    """3. London's registry ingests and verifies what is on the hub, then reports SERVING over gRPC."""
    section("3. A registry in London (GB) starts")
    (demo.work / "pseudonym.key").write_bytes(base64.b64encode(os.urandom(48)))
    target = "127.0.0.1:%d" % free_port()
    demo.registry = Service(
        "registry",
        ["registry", "serve", "--db", "registry.db", "--listen", target, "--root-key", "root.pub.pem",
         "--country", "GB", "--pseudonym-key-file", "pseudonym.key",
         # Loopback only, for the demo; a real registry runs mutual TLS (see README).
         "--plaintext-for-local-use"],
        env=demo.env_of("registry-GB"),
        cwd=demo.work,
    )
    demo.cleanup.callback(demo.registry.stop)
    demo.registry_target = target
    started = time.monotonic()
    demo.until("the registry to report SERVING", lambda: serving(target))
    channel = grpc.insecure_channel(target)
    demo.cleanup.callback(channel.close)
    demo.stub = registry_pb2_grpc.RegistryServiceStub(channel)
    # The hub's admission copies each council's submissions as they come: wait for the last of each register.
    for issuer_id, *_ in COUNCILS:
        last = "%s/%d" % (issuer_id, 10000 + len(REGISTERS[issuer_id]))
        demo.until("the registry to hold %s" % last, functools.partial(judged, demo, last))
    say(
        "  registry SERVING on %s after %.1f s (all attestations ingested and verified)"
        % (target, time.monotonic() - started)
    )


def hub_carries_no_name(demo: Demo) -> None:
    """(3, continued.) What the hub holds on disk, read byte by byte: not one name, birth date or register
    number of the registers, in any encoding; only digests that her credential opens."""
    data = demo.work / "hub" / "data"
    topics = (demo.topics.attestations, demo.topics.submissions_prefix)
    segments = sorted(path for path in data.glob("*/*.log") if path.parent.name.startswith(topics))
    if not segments:
        say("  (an external cluster: its log segments are not on this machine to inspect)")
        return
    values = [value for register in REGISTERS.values() for family, given, dob, _ in register
              for value in (family, given, dob)]
    values += [order.practitioner_number for issuer_id, country, *_ in COUNCILS
               for order in commands(issuer_id, country, demo.today)]
    carried = b"".join(path.read_bytes() for path in segments)
    found = personal_data_in(carried, values)
    say("  the hub's own log segments of %s and of every council's submission topic: %d files, %d bytes;"
        % (demo.topics.attestations, len(segments), len(carried)))
    say("  of the registers' %d names, birth dates and register numbers, %d found there (in clear, UTF-16, "
        "hex or base64)" % (len(set(values)), len(found)))
    say("  see for yourself with Kafka's own tool:")
    say("    java -cp '%s/*' kafka.tools.DumpLogSegments --print-data-log --files %s" % (
        localkafka.jar_dir(), segments[0].relative_to(ROOT)))


def judged(demo: Demo, credential_id: str) -> bool | None:
    """True once London has a verdict on ``credential_id`` other than never having seen it."""
    return None if reasons(demo.verify(credential_id)) == "NOT_FOUND" else True


def write_refused(producer: KafkaProducer, topic: str, key: bytes, value: bytes | None) -> str:
    """Send one record; return how the hub answered: the error's name, or a note that it took it."""
    try:
        producer.send(topic, key=key, value=value).get(timeout=15)
    except KafkaError as exc:
        return type(exc).__name__
    return "accepted (unexpected)"


def hostile_writers_are_refused(demo: Demo) -> None:
    """(3, continued.) The hub is closed: a stranger cannot connect, a council cannot write under another
    council's name, and even someone holding Kenya's hub password gets nothing past the admission."""
    try:
        stranger = KafkaProducer(bootstrap_servers=demo.bootstrap, bootstrap_timeout_ms=5000)
        stranger.close()
        outcome = "accepted (unexpected)"
    except KafkaError as exc:
        outcome = type(exc).__name__
    say("  a stranger without hub credentials: no connection accepted by the hub (%s)" % outcome)
    romania = KafkaProducer(**client_config(demo.kafka_as("RO-CMR"), "demo-romania"))
    demo.cleanup.callback(romania.close)
    genuine = demo.verify("KE-NCK/10001").evidence
    for topic in (demo.topics.submissions("KE-NCK"), demo.topics.attestations):
        say("  Romania's council writing KE-NCK/10001 to %s: refused by the hub (%s)" % (
            topic, write_refused(romania, topic, b"KE-NCK/10001", None)))
    demo.insider = KafkaProducer(**client_config(demo.kafka_as("KE-NCK"), "demo-insider"))
    demo.cleanup.callback(demo.insider.close)
    forged = type(genuine)()
    forged.CopyFrom(genuine)
    forged.payload = forged.payload.replace(b"10001", b"19999")
    kenya = demo.topics.submissions("KE-NCK")
    demo.insider.send(kenya, key=b"KE-NCK/19999", value=forged.SerializeToString(),
                      headers=[("payload-type", forged.payloadType.encode())])
    demo.insider.send(kenya, key=b"KE-NCK/garbage", value=os.urandom(200))
    demo.insider.send(kenya, key=b"KE-NCK/10001", value=None)  # a tombstone: erase a genuine licence?
    demo.insider.flush()
    say("  with Kenya's hub password: a forged envelope, garbage and a tombstone for KE-NCK/10001 sent to %s"
        % kenya)


def bad_records_reach_the_hub(demo: Demo) -> None:
    """(3, quietly.) Kenya's nursing council properly signs a doctor's licence, outside its scope; with the
    hostile records of the scene before, London's verdicts are shown in scene 4 and the dead letters in 9."""
    hostile_writers_are_refused(demo)
    today = demo.today
    demo.issue_in_process(
        IssueAttestation(issuer_id="KE-NCK", jurisdiction="KE", local_number="77777", kind=LICENCE,
                         practitioner_number="NCK-77777", family_name="Mutiso", given_names="Paul",
                         date_of_birth=dt.date(1980, 1, 1), country_of_training="KE", profession_isco="2211",
                         valid_until=today.replace(year=today.year + 1)),
        key_file="ke-nck.key", ledger="ke-nck.ledger.db",
    )
    hostile = {b"KE-NCK/19999", b"KE-NCK/garbage", b"KE-NCK/10001", b"KE-NCK/77777"}
    demo.until("the admission to refuse the insider's records and the doctor's licence",
               lambda: True if hostile <= {d.key for d in demo.dead_letters()} else None)
    say("  the hub's admission refused all three, and Kenya's signed licence for a doctor (outside its scope);")
    say("  none reached %s: London still answers %s for KE-NCK/10001" % (
        demo.topics.attestations, reasons(demo.verify("KE-NCK/10001")) or "VERIFIED"))


IDENTITY = ("family_name", "given_names", "birth_date")


def london_verifies_applicants(demo: Demo) -> None:
    """4. Applicants present their credentials in London; the case officer types their details as on their
    passports, and the registry compares them with what each disclosed: typos, mismatches, forgeries."""
    section("4. Applicants present their credentials in London (gRPC Verify)")
    shown = demo.cli("holder", "present", "--credential", str(demo.credential_file("KE-NCK/10001")),
                     "--disclose", ",".join(IDENTITY), "--output", "grace.presentation")
    say("  Grace Wanjiru, with her own file: credverify holder present --disclose %s: %s" % (
        ",".join(IDENTITY), shown.stderr.strip()))
    grace = (demo.work / "grace.presentation").read_text().strip()
    forged = present(demo.credential_file("KE-NCK/10002").read_text().strip(), disclose=IDENTITY[:2],
                     now=dt.datetime.now(dt.UTC))
    forged += make_disclosure(b64url(os.urandom(SALT_BYTES)), "birth_date", "1998-11-02") + "~"
    queries = [
        ("nurse, details as on her passport", "KE-NCK/10001", claimed("WANJIRU", "grace akinyi", "1992-03-14"),
         grace),
        ("doctor, name typed without diacritics", "RO-CMR/10003", claimed("Dumitrescu", "Stefan", "1982-09-04"),
         demo.presentation("RO-CMR/10003", *IDENTITY)),
        ("nurse, case officer's typo in the birth date", "KE-NCK/10002",
         claimed("Otieno", "Brian Ochieng", "1988-11-20"), demo.presentation("KE-NCK/10002", *IDENTITY)),
        ("nurse, a birth date she forged into it", "KE-NCK/10002", claimed("Otieno", "Brian Ochieng", "1998-11-02"),
         forged),
        ("nurse under investigation at home", "KE-NCK/10013", claimed("Barasa", "Ruth Naliaka"),
         demo.presentation("KE-NCK/10013", *IDENTITY[:2])),
        ("doctor whose licence lapsed last year", "LK-SLMC/10006", claimed("Bandara", "Sanduni"),
         demo.presentation("LK-SLMC/10006", *IDENTITY[:2])),
        ("doctor with conditions on practice", "RO-CMR/10008", claimed("Munteanu", "Bianca"),
         demo.presentation("RO-CMR/10008", *IDENTITY[:2], "conditions")),
        ("name typed, no credential presented", "KE-NCK/10003", claimed("Mwangi", "Faith Wambui"), ""),
        ("forged envelope (refused at admission)", "KE-NCK/19999", None, ""),
        ("nurses' council attesting a doctor (too)", "KE-NCK/77777", None, ""),
        ("number nobody issued", "TT-NMC/19999", None, ""),
    ]
    say("  %-45s %-16s %-9s %s" % ("applicant", "credential", "verdict", "reasons"))
    for label, credential_id, subject, presentation in queries:
        reply = demo.verify(credential_id, subject, presentation)
        say("  %-45s %-16s %-9s %s" % (label, credential_id, "VERIFIED" if reply.verified else "REFUSED",
                                       reasons(reply)))
    reply = demo.verify("RO-CMR/10008", None, demo.presentation("RO-CMR/10008", "conditions"))
    say("  the conditions the Romanian doctor disclosed: %s" % reply.disclosed["conditions"])
    say("  without a presentation London learns status and facts only: the registry keeps no name")
    evidence = demo.verify("KE-NCK/10001").evidence
    say(
        "  evidence kept by London: DSSE envelope, %d-byte payload, signed by key %s..."
        % (len(evidence.payload), evidence.signatures[0].keyid[:16])
    )


def suspension_reaches_london(demo: Demo) -> None:
    """5. Nairobi suspends a nurse; London answers SUSPENDED moments later and a replay cannot undo it."""
    section("5. A suspension in Nairobi reaches London")
    nurse = commands("KE-NCK", "KE", demo.today)[1]  # Brian Otieno
    before = demo.verify(nurse.credential_id).evidence
    suspend = demo.cli("issuer", "suspend", "--key", "ke-nck.key", "--ledger", "ke-nck.ledger.db",
                       "--credential-id", nurse.credential_id, "--reason", "INTERIM_ORDER")
    sent = time.monotonic()  # the CLI returns once the hub confirmed the new version
    say("  " + suspend.stdout.strip())
    demo.until(
        "the suspension to reach the registry",
        lambda: True if common_pb2.REASON_SUSPENDED in demo.verify(nurse.credential_id).reasons else None,
    )
    say(
        "  London answers SUSPENDED for %s %.0f ms after the hub confirmed it"
        % (nurse.credential_id, (time.monotonic() - sent) * 1000)
    )
    still = demo.verify(nurse.credential_id, claimed("Otieno", "Brian Ochieng"),
                        demo.presentation(nurse.credential_id, *IDENTITY[:2]))
    say("  his credential still opens the new version (a status change keeps the digests): %s" % reasons(still))
    replay_older_version(demo, nurse.credential_id, before)


def replay_older_version(demo: Demo, credential_id: str, older: envelope_pb2.Envelope) -> None:
    """Someone with Kenya's hub password re-submits the genuine, older ACTIVE version to hide the suspension."""
    demo.insider.send(demo.topics.submissions("KE-NCK"), key=credential_id.encode(), value=older.SerializeToString())
    demo.insider.flush()
    demo.until(
        "the replay to be rejected",
        lambda: True if any(d.reason == common_pb2.REASON_REPLAYED for d in demo.dead_letters()) else None,
    )
    say(
        "  the older ACTIVE version re-submitted: rejected as REPLAYED; London still answers %s"
        % reasons(demo.verify(credential_id))
    )


def kenya_rotates_its_key(demo: Demo) -> None:
    """6. Kenya's council gets a new key admitted and signs with it; London verifies that at once."""
    section("6. Kenya's council rotates its signing key; the old one is stolen")
    demo.cli("issuer", "keygen", "--key", "ke-nck-2.key")
    rotated = demo.cli("trust", "rotate-key", "--root-key", "root.key", "--issuer-id", "KE-NCK",
                       "--new-public-key", "ke-nck-2.pub.pem")
    say("  federation: " + rotated.stdout.strip())
    family, given, dob, isco = REGISTERS["KE-NCK"][0]
    write_subject(demo.work / "wanjiru.subject", "NCK-10001", family, given, dob)
    good_standing = demo.cli(
        "issuer", "issue", "--key", "ke-nck-2.key", "--ledger", "ke-nck.ledger.db", "--issuer-id", "KE-NCK",
        "--jurisdiction", "KE", "--number", "GS-10001", "--kind", "GOOD_STANDING", "--subject-file", "wanjiru.subject",
        "--isco", isco, "--valid-from", str(demo.today), "--valid-until", str(demo.today + dt.timedelta(days=180)),
        "--credential-out", "wanjiru-good-standing.sd-jwt", principal="KE-NCK")
    say("  council, with the new key: " + " / ".join(good_standing.stdout.strip().splitlines()))
    demo.until("the good-standing certificate to reach London",
               lambda: True if demo.verify("KE-NCK/GS-10001").verified else None)
    # Grace proves her good standing to London: her name, and not her birth date.
    credential = (demo.work / "wanjiru-good-standing.sd-jwt").read_text().strip()
    shown = present(credential, disclose=IDENTITY[:2], now=dt.datetime.now(dt.UTC))
    reply = demo.verify("KE-NCK/GS-10001", claimed("Wanjiru", "Grace Akinyi"), shown)
    say("  Grace presents KE-NCK/GS-10001, signed by the new key, disclosing only %s: %s" % (
        " and ".join(sorted(reply.disclosed)), "VERIFIED" if reply.verified else reasons(reply)))


def stolen_key_is_refused(demo: Demo) -> None:
    """(6, continued.) The old key is reported stolen as of now: what the thief signs with it is refused,
    even dated before the theft (the hub's clock decides, not the signature's), while what Kenya signed
    with it before stays valid."""
    old_keyid = demo.signer("ke-nck.key").keyid  # rotated out, but still the key that signed the registers
    stolen_at = dt.datetime.now(dt.UTC)
    reported = demo.cli("trust", "report-compromise", "--root-key", "root.key", "--issuer-id", "KE-NCK",
                        "--keyid", old_keyid[:16], "--at", stolen_at.isoformat())
    say("  federation: " + reported.stdout.strip())
    # The thief signs a licence for someone never registered, with the stolen key, and dates it back to
    # when Kenya signed its registers, while the key was valid; it also has Kenya's hub password.
    today = demo.today
    demo.issue_in_process(
        IssueAttestation(issuer_id="KE-NCK", jurisdiction="KE", local_number="66666", kind=LICENCE,
                         practitioner_number="NCK-66666", family_name="Kamau", given_names="John",
                         date_of_birth=dt.date(1985, 5, 5), country_of_training="KE", profession_isco="2221",
                         valid_until=today.replace(year=today.year + 2)),
        key_file="ke-nck.key", ledger="thief.ledger.db", now=demo.registers_signed_at,
    )
    refused_thief = demo.until(
        "the forged licence to be refused",
        lambda: next((reason_code(d.reason) for d in demo.dead_letters() if d.key == b"KE-NCK/66666"), None),
    )
    still = demo.verify("KE-NCK/10001")
    say("  a licence the thief signed with the stolen key, dated back to before the theft: refused by the "
        "hub's admission as %s" % refused_thief)
    say("  (the hub's clock decides: it was appended after the reported compromise, whatever it claims)")
    backdated = SqliteIssuedLedger(demo.work / "thief.ledger.db").lookup(["KE-NCK/66666"])["KE-NCK/66666"]
    presented = demo.stub.VerifyPresented(registry_pb2.VerifyPresentedRequest(
        envelope=envelope_pb2.Envelope.FromString(backdated.envelope_bytes)), timeout=5)
    say("  the same envelope presented to London directly: %s" % reasons(presented))
    say("  KE-NCK/10001, signed by the same key before it was stolen: still %s" % reasons(still))


def refusal(call: Callable[[], object]) -> str:
    """The gRPC status code ``call`` fails with, or a note that it unexpectedly succeeded."""
    try:
        call()
    except grpc.RpcError as exc:
        return "%s" % exc.code().name
    return "accepted (unexpected)"


def london_registers_applicants(demo: Demo) -> None:
    """7. London records registrations of verified applicants; each emits one move, once."""
    section("7. London registers applicants (gRPC RecordRegistration)")
    to_register = (
        ["KE-NCK/%d" % (10000 + n) for n in (1, 3, 4, 5, 6, 7, 8, 9, 10, 11)]
        + ["RO-CMR/%d" % (10000 + n) for n in range(1, 9)]
        + ["LK-SLMC/%d" % (10000 + n) for n in range(1, 6)]
        + ["TT-NMC/%d" % (10000 + n) for n in range(1, 4)]
    )
    # Registrations of last month, so that its flow statistics can be final by scene 8.
    last_month = demo.today.replace(day=1) - dt.timedelta(days=1)
    registered_on = to_date(last_month.replace(day=15))
    demo.period = "%04d-%02d" % (last_month.year, last_month.month)
    recorded: Counter[str] = Counter()
    for credential_id in to_register:
        recorded[demo.record_registration(credential_id, registered_on).move.origin_country] += 1
    again = demo.record_registration("KE-NCK/10001", registered_on)
    refused = refusal(lambda: demo.record_registration("KE-NCK/10013"))
    say(
        "  %d moves emitted: %s"
        % (sum(recorded.values()), ", ".join("%s->GB %d" % (c, n) for c, n in sorted(recorded.items())))
    )
    say("  the same nurse registered twice: already_recorded=%s, nothing new emitted" % again.already_recorded)
    say("  registering the suspended nurse: refused with %s" % refused)


def final_release(demo: Demo) -> dict[str, moves_pb2.FlowStatistic] | None:
    """The latest statistics by key, once the grand total of ``demo.period`` is final; else None."""
    latest = read_statistics(demo.kafka_as(None), demo.topics.flow_statistics, idle_timeout=1.5)
    grand_total = latest.get("%s|_T|_T|_T" % demo.period)
    return latest if grand_total is not None and grand_total.final else None


def shown_to_statisticians(stat: moves_pb2.FlowStatistic, period: str) -> bool:
    """Moves into GB in ``period``: by origin and profession, and the totals over origins."""
    return (
        stat.period == period and stat.destination_country == "GB" and stat.country_of_training in ("", "_T")
        and (stat.measure == "moves" or stat.profession_group == "_T")
        and (stat.origin_country not in ("_T", "_INTRA", "_INTER") or stat.profession_group == "_T")
    )


def statistic_row(stat: moves_pb2.FlowStatistic) -> str:
    return "  %-8s %-8s %-11s %-12s %-8s %-10s %s k=%s, %s" % (
        stat.period,
        stat.origin_country,
        stat.destination_country,
        stat.profession_group,
        stat.measure,
        "suppressed" if stat.suppressed else stat.value,
        stat.method,
        stat.parameters["k"],
        "final" if stat.final else "provisional",
    )


def flow_statistics_published(demo: Demo) -> None:
    """8. The Faust worker publishes the month's final, anonymised flows; they are shown and exported as CSV."""
    section("8. Flow statistics for statisticians (k=%d, from %s)" % (K, demo.topics.flow_statistics))
    # The worker starts after the month's registrations and with no grace period, so the
    # month is closed and its final, anonymised release comes out at once.
    flowstats = Service(
        "flowstats",
        ["flows", "worker", "--k", str(K), "--grace", "0s", "--data-dir", "flowstats", "--country-of-training"],
        env=demo.env_of("credverify-flows"),
        cwd=demo.work,
    )
    demo.cleanup.callback(flowstats.stop)
    latest = wait_for("the final flow statistics of %s" % demo.period, lambda: final_release(demo), timeout=120,
                      services=(flowstats,))
    say("  %-8s %-8s %-11s %-12s %-8s %-10s %s" % (
        "period", "origin", "destination", "profession", "measure", "value", "method"))
    shown = [stat for stat in latest.values() if shown_to_statisticians(stat, demo.period)]
    for stat in sorted(shown, key=lambda s: (s.measure, s.origin_country.startswith("_"), s.origin_country,
                                              s.profession_group)):
        say(statistic_row(stat))
    exported = demo.cli("flows", "export", "--format", "csv", "--final-only", "--output", "flows.csv",
                        "--idle-timeout", "1.5")
    say("  (_T: all, _INTRA/_INTER: origins in the same UN M49 region as GB or another one)")
    trained = sorted((stat.country_of_training, "suppressed" if stat.suppressed else str(stat.value))
                     for stat in latest.values()
                     if stat.period == demo.period and stat.destination_country == "GB"
                     and stat.country_of_training not in ("", "_T") and stat.origin_country == "_T"
                     and stat.profession_group == "_T" and stat.measure == "moves")
    say("  by country of training, as OECD and WHO count the foreign-trained: %s" % (
        ", ".join("%s %s" % pair for pair in trained) or "none published"))
    say("  " + exported.stderr.strip().splitlines()[-1] + ": the OECD.Stat-style CSV for statisticians")


def dead_letters_listed(demo: Demo) -> None:
    """9. Every record the hub's admission or London refused, with its reason."""
    section("9. Dead letters (%s)" % demo.topics.rejected)
    for record in demo.dead_letters():
        say(
            "  %-16s %-22s %s"
            % (record.key.decode(errors="replace")[:16], reason_code(record.reason), record.detail[:90])
        )


WEB_PASSWORD_CHARS = 20
PORTAL_PORT = 8090
WEB_PORT = 8080  # the pages' usual address, http://127.0.0.1:8080/, unless something else holds it


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_status(url: str) -> int | None:
    """The HTTP status ``url`` answers with, or None while nothing listens there."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback, our own pages)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def pages_for_the_desks(demo: Demo) -> str:
    """10. The pages: Kenya's council serves its IssuerService, and `credverify web serve` gives London's case
    officers and Kenya's registrars their pages over the registry's and the issuer's gRPC APIs."""
    section("10. Pages for case officers and registrars (credverify web)")
    issuer_target = "127.0.0.1:%d" % free_port()
    issuer = Service("issuer", ["issuer", "serve", "--key", "ke-nck-2.key", "--ledger", "ke-nck.ledger.db",
                                "--issuer-id", "KE-NCK", "--jurisdiction", "KE", "--listen", issuer_target,
                                "--plaintext-for-local-use", "--log-format", "text"],
                     env=demo.env_of("KE-NCK"), cwd=demo.work)
    demo.cleanup.callback(issuer.stop)
    wait_for("Kenya's IssuerService to report SERVING", lambda: serving(issuer_target), services=(issuer,))
    accounts = (("officer.gb", "--country", "GB"), ("registrar.ke", "--issuer-id", "KE-NCK"))
    for username, flag, scope in accounts:
        password = demo.work / ("%s.password" % username)
        password.write_text(base64.urlsafe_b64encode(os.urandom(WEB_PASSWORD_CHARS)).decode()[:WEB_PASSWORD_CHARS])
        password.chmod(0o600)
        demo.cli("web", "add-account", "--db", "web.db", "--username", username, flag, scope,
                 "--password-file", password.name)
    listen = "127.0.0.1:%d" % (WEB_PORT if port_free(WEB_PORT) else free_port())
    web = Service("web", ["web", "serve", "--db", "web.db", "--listen", listen, "--registry",
                          "GB=" + demo.registry_target, "--issuer", "KE-NCK=" + issuer_target,
                          "--grpc-plaintext-for-local-use", "--log-format", "text"], env=demo.env, cwd=demo.work)
    demo.cleanup.callback(web.stop)
    url = "http://%s" % listen
    wait_for("the pages to answer", lambda: True if http_status(url + "/health") == 200 else None,
             services=(web, issuer))
    say("  pages at %s/ (sign-in answers %s); health %s/health, metrics %s/metrics" % (
        url, http_status(url + "/sign-in"), url, url))
    for username, _, scope in accounts:
        say("  %-13s %-12s password in %s" % (username, scope, (demo.work / ("%s.password" % username))
                                                 .relative_to(ROOT)))
    say("  a case officer verifies Grace with .demo/grace.presentation or her file; a registrar uploads "
        ".demo/ke-nck-register.csv")
    statisticians_portal(demo)
    return url


def statisticians_portal(demo: Demo) -> None:
    """(10, continued.) The public portal of flows: it reads the statistics topic and nothing else."""
    listen = "127.0.0.1:%d" % (PORTAL_PORT if port_free(PORTAL_PORT) else free_port())
    portal = Service("portal", ["flows", "portal", "--listen", listen, "--refresh", "5"],
                     env=demo.env_of("credverify-portal"), cwd=demo.work)
    demo.cleanup.callback(portal.stop)
    url = "http://%s" % listen
    wait_for("the portal to answer", lambda: True if http_status(url + "/health") == 200 else None,
             services=(portal,))
    say("  statisticians' portal at %s/ (public, read-only: flows, map, months, suppression explained; "
        "it reads only %s)" % (url, demo.topics.flow_statistics))


def main() -> int:
    work = ROOT / ".demo"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    with ExitStack() as cleanup:  # stops services, clients and the broker even when a scene fails
        demo = open_the_hub(work, cleanup)
        federation_admits_councils(demo)  # 1
        councils_publish_registers(demo)  # 2
        london_registry_starts(demo)  # 3
        hub_carries_no_name(demo)
        bad_records_reach_the_hub(demo)
        london_verifies_applicants(demo)  # 4
        suspension_reaches_london(demo)  # 5
        kenya_rotates_its_key(demo)  # 6
        stolen_key_is_refused(demo)
        london_registers_applicants(demo)  # 7
        flow_statistics_published(demo)  # 8
        dead_letters_listed(demo)  # 9
        pages_for_the_desks(demo)  # 10
        say()
        say("demo complete: work files in %s" % work)
        if sys.stdin.isatty() and "--no-wait" not in sys.argv:
            say("the hub, the services and the pages keep running until you press Enter")
            input()
    return 0


if __name__ == "__main__":
    sys.exit(main())
