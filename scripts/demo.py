"""The demo: a Kafka hub, four source councils, a registry in London and the flow statistics.

Everything is real: an Apache Kafka broker (started here unless
$KAFKA_BOOTSTRAP_SERVERS names one), Ed25519 signatures in DSSE envelopes, the
registry and the Faust worker as separate processes, gRPC over a socket.

    make demo        (or: .venv/bin/python scripts/demo.py)
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
from kafka import KafkaConsumer, KafkaProducer

from credverify.core.adapters.kafka import ConfirmingProducer
from credverify.core.envelope import ATTESTATION_TYPE
from credverify.core.errors import reason_code
from credverify.core.keys import load_signer
from credverify.core.settings import PASSPHRASE_ENV, KafkaSettings, read_passphrase
from credverify.core.timefmt import to_date
from credverify.core.topics import Topics
from credverify.flowstats.cli import read_statistics
from credverify.issuer.adapters.sqlite_ledger import SqliteIssuedLedger
from credverify.issuer.domain import IssueAttestation
from credverify.issuer.handlers import issue
from credverify.issuer.register_csv import CONDITION_SEPARATOR, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from credverify.localrun import Service, cli_env, free_port, run_cli, serving, wait_for
from credverify.v1 import common_pb2, moves_pb2, registry_pb2, registry_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
import localkafka  # noqa: E402

DEMO_PASSPHRASE = "demo passphrase, never for real keys"

LICENCE = common_pb2.CREDENTIAL_KIND_LICENCE
ACTIVE = common_pb2.CREDENTIAL_STATUS_ACTIVE
K = 5  # the demo publishes with the default threshold

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
        status, until, conditions, reason = ACTIVE, today.replace(year=today.year + 3), (), ""
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


def dead_letters(bootstrap: str, topics: Topics) -> list[registry_pb2.RejectedRecord]:
    consumer = KafkaConsumer(
        topics.rejected,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        dead = []
        for _ in range(5):
            for batch in consumer.poll(timeout_ms=300).values():
                dead += [registry_pb2.RejectedRecord.FromString(r.value) for r in batch]
        return dead
    finally:
        consumer.close()


def main() -> int:
    work = ROOT / ".demo"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    prefix = ""
    services: list[Service] = []
    try:
        section("Kafka hub")
        if bootstrap:
            prefix = "demo-%d." % int(time.time())
            say("using the cluster at %s, topics prefixed %r" % (bootstrap, prefix))
        else:
            broker = localkafka.LocalKafka(state_dir=Path(tempfile.mkdtemp(prefix="credverify-demo-kafka-")))
            broker.start()
            bootstrap = broker.bootstrap
            say("Apache Kafka (KRaft) at %s, ready in %.1f s" % (bootstrap, broker.ready_after_s or 0))
        topics = Topics(prefix=prefix)
        # Keys are encrypted at rest; a real council reads the passphrase from a secret store.
        os.environ.setdefault(PASSPHRASE_ENV, DEMO_PASSPHRASE)
        env = cli_env(bootstrap, prefix)
        today = dt.datetime.now(dt.UTC).date()

        section("1. The federation admits four source councils")
        run_cli(["trust", "init-root", "--key", "root.key"], env=env, cwd=work)
        for issuer_id, country, name, kinds, isco in COUNCILS:
            key = "%s.key" % issuer_id.lower()
            run_cli(["issuer", "keygen", "--key", key], env=env, cwd=work)
            out = run_cli(
                [
                    "trust",
                    "register-issuer",
                    "--root-key",
                    "root.key",
                    "--issuer-id",
                    issuer_id,
                    "--country",
                    country,
                    "--name",
                    name,
                    "--kinds",
                    kinds,
                    "--isco",
                    isco,
                    "--issuer-public-key",
                    key.replace(".key", ".pub.pem"),
                ],
                env=env,
                cwd=work,
            )
            say("  %-8s %-52s may attest ISCO %s" % (issuer_id, name, isco))
            assert "published issuer record" in out.stdout

        section("2. Councils sign and publish their registers")
        producer = ConfirmingProducer(KafkaSettings(bootstrap, Topics()), client_id="demo-councils")
        for issuer_id, country, *_ in COUNCILS:
            register = "%s-register.csv" % issuer_id.lower()
            write_register(work / register, commands(issuer_id, country, today))
            bulk = run_cli(["issuer", "bulk", "--key", "%s.key" % issuer_id.lower(), "--issuer-id", issuer_id,
                            "--jurisdiction", country, "--register", register, "--no-progress",
                            "--ledger", "%s.ledger.db" % issuer_id.lower()], env=env, cwd=work)
            say("  %-8s %s: %s" % (issuer_id, register, bulk.stdout.strip().splitlines()[-1]))
        again = run_cli(["issuer", "bulk", "--key", "ke-nck.key", "--issuer-id", "KE-NCK", "--jurisdiction", "KE",
                         "--register", "ke-nck-register.csv", "--no-progress", "--ledger", "ke-nck.ledger.db"],
                        env=env, cwd=work)
        say("  KE-NCK   the same file again: " + again.stdout.strip().splitlines()[-1])
        one = run_cli(
            [
                "issuer",
                "issue",
                "--key",
                "ke-nck.key",
                "--ledger",
                "ke-nck.ledger.db",
                "--issuer-id",
                "KE-NCK",
                "--jurisdiction",
                "KE",
                "--number",
                "900001",
                "--practitioner-number",
                "NCK-900001",
                "--family-name",
                "Kibet",
                "--given-names",
                "Naomi Jeptoo",
                "--dob",
                "1994-05-01",
                "--trained-in",
                "KE",
                "--isco",
                "2222",
                "--valid-until",
                str(today.replace(year=today.year + 2)),
            ],
            env=env,
            cwd=work,
        )
        say("  from the CLI: " + one.stdout.strip())

        section("3. A registry in London (GB) starts")
        (work / "pseudonym.key").write_bytes(base64.b64encode(os.urandom(48)))
        target = "127.0.0.1:%d" % free_port()
        registry = Service(
            "registry",
            [
                "registry",
                "serve",
                "--db",
                "registry.db",
                "--listen",
                target,
                "--root-key",
                "root.pub.pem",
                "--country",
                "GB",
                "--pseudonym-key-file",
                "pseudonym.key",
                # Loopback only, for the demo; a real registry runs mutual TLS (see README).
                "--plaintext-for-local-use",
            ],
            env=env,
            cwd=work,
        )
        services.append(registry)
        started = time.monotonic()
        wait_for("the registry to report SERVING", lambda: serving(target), services=(registry,))
        say(
            "  registry SERVING on %s after %.1f s (all attestations ingested and verified)"
            % (target, time.monotonic() - started)
        )
        channel = grpc.insecure_channel(target)
        stub = registry_pb2_grpc.RegistryServiceStub(channel)

        # An attacker's attempts, published straight to the hub.
        attacker = KafkaProducer(bootstrap_servers=bootstrap)
        genuine = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/10001"), timeout=5).evidence
        forged = type(genuine)()
        forged.CopyFrom(genuine)
        forged.payload = forged.payload.replace(b"Wanjiru", b"Wanjiro").replace(b"10001", b"19999")
        attacker.send(
            topics.attestations,
            key=b"KE-NCK/19999",
            value=forged.SerializeToString(),
            headers=[("payload-type", ATTESTATION_TYPE.encode())],
        )
        attacker.send(topics.attestations, key=b"KE-NCK/garbage", value=os.urandom(200))
        attacker.flush()
        # A nursing council attesting a doctor: properly signed, outside its scope.
        out_of_scope = issue(
            [
                IssueAttestation(
                    issuer_id="KE-NCK",
                    jurisdiction="KE",
                    local_number="77777",
                    kind=LICENCE,
                    practitioner_number="NCK-77777",
                    family_name="Mutiso",
                    given_names="Paul",
                    date_of_birth=dt.date(1980, 1, 1),
                    country_of_training="KE",
                    profession_isco="2211",
                    valid_until=today.replace(year=today.year + 1),
                )
            ],
            signer=load_signer(work / "ke-nck.key", passphrase=read_passphrase()),
            publisher=producer,
            topics=topics,
            ledger=SqliteIssuedLedger(work / "ke-nck.ledger.db"),
            now=dt.datetime.now(dt.UTC),
        )
        assert out_of_scope[0].confirmed

        def judged(credential_id: str) -> bool | None:
            reply = stub.Verify(registry_pb2.VerifyRequest(credential_id=credential_id), timeout=5)
            return None if [reason_code(r) for r in reply.reasons] == ["NOT_FOUND"] else True

        for credential_id in ("KE-NCK/19999", "KE-NCK/77777"):
            wait_for(
                "the registry to judge %s" % credential_id, lambda c=credential_id: judged(c), services=(registry,)
            )

        section("4. London verifies applicants (gRPC Verify)")
        queries = [
            ("nurse, details as on her passport", "KE-NCK/10001", claimed("WANJIRU", "grace akinyi", "1992-03-14")),
            ("doctor, name typed without diacritics", "RO-CMR/10003", claimed("Dumitrescu", "Stefan", "1982-09-04")),
            ("nurse, wrong date of birth", "KE-NCK/10002", claimed("Otieno", "Brian Ochieng", "1988-11-20")),
            ("nurse under investigation at home", "KE-NCK/10013", claimed("Barasa", "Ruth Naliaka")),
            ("doctor whose licence lapsed last year", "LK-SLMC/10006", claimed("Bandara", "Sanduni")),
            ("doctor with conditions on practice", "RO-CMR/10008", claimed("Munteanu", "Bianca")),
            ("forged envelope (edited name and number)", "KE-NCK/19999", None),
            ("nursing council attesting a doctor", "KE-NCK/77777", None),
            ("number nobody issued", "TT-NMC/19999", None),
        ]
        say("  %-42s %-16s %-9s %s" % ("applicant", "credential", "verdict", "reasons"))
        for label, credential_id, subject in queries:
            reply = stub.Verify(registry_pb2.VerifyRequest(credential_id=credential_id, claimed=subject), timeout=5)
            say(
                "  %-42s %-16s %-9s %s"
                % (
                    label,
                    credential_id,
                    "VERIFIED" if reply.verified else "REFUSED",
                    ", ".join(reason_code(r) for r in reply.reasons),
                )
            )
        evidence = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/10001"), timeout=5).evidence
        say(
            "  evidence kept by London: DSSE envelope, %d-byte payload, signed by key %s..."
            % (len(evidence.payload), evidence.signatures[0].keyid[:16])
        )

        section("5. A suspension in Nairobi reaches London")
        nurse = commands("KE-NCK", "KE", today)[1]  # Brian Otieno
        before = stub.Verify(registry_pb2.VerifyRequest(credential_id=nurse.credential_id), timeout=5).evidence
        suspend = run_cli(["issuer", "suspend", "--key", "ke-nck.key", "--ledger", "ke-nck.ledger.db",
                           "--credential-id", nurse.credential_id, "--reason", "INTERIM_ORDER"], env=env, cwd=work)
        sent = time.monotonic()  # the CLI returns once the hub confirmed the new version
        say("  " + suspend.stdout.strip())

        def suspended_seen() -> bool | None:
            reply = stub.Verify(registry_pb2.VerifyRequest(credential_id=nurse.credential_id), timeout=5)
            return True if common_pb2.REASON_SUSPENDED in reply.reasons else None

        wait_for("the suspension to reach the registry", suspended_seen, services=(registry,))
        say(
            "  London answers SUSPENDED for %s %.0f ms after the hub confirmed it"
            % (nurse.credential_id, (time.monotonic() - sent) * 1000)
        )
        # Someone re-publishes the genuine, older ACTIVE version to hide the suspension.
        attacker.send(topics.attestations, key=nurse.credential_id.encode(), value=before.SerializeToString())
        attacker.flush()
        wait_for(
            "the replay to be rejected",
            lambda: (
                True if any(d.reason == common_pb2.REASON_REPLAYED for d in dead_letters(bootstrap, topics)) else None
            ),
            services=(registry,),
        )
        replay_seen = stub.Verify(registry_pb2.VerifyRequest(credential_id=nurse.credential_id), timeout=5)
        say(
            "  the older ACTIVE version re-published: rejected as REPLAYED; London still answers %s"
            % (", ".join(reason_code(r) for r in replay_seen.reasons))
        )

        section("6. Kenya's council rotates its signing key; the old one is stolen")
        old_keyid = load_signer(work / "ke-nck.key", passphrase=read_passphrase()).keyid
        run_cli(["issuer", "keygen", "--key", "ke-nck-2.key"], env=env, cwd=work)
        rotated = run_cli(["trust", "rotate-key", "--root-key", "root.key", "--issuer-id", "KE-NCK",
                           "--new-public-key", "ke-nck-2.pub.pem"], env=env, cwd=work)
        say("  federation: " + rotated.stdout.strip())
        good_standing = run_cli(
            ["issuer", "issue", "--key", "ke-nck-2.key", "--ledger", "ke-nck.ledger.db", "--issuer-id", "KE-NCK",
             "--jurisdiction", "KE", "--number", "GS-10001", "--kind", "GOOD_STANDING",
             "--practitioner-number", "NCK-10001", "--family-name", REGISTERS["KE-NCK"][0][0],
             "--given-names", REGISTERS["KE-NCK"][0][1], "--dob", REGISTERS["KE-NCK"][0][2], "--trained-in", "KE",
             "--isco", REGISTERS["KE-NCK"][0][3], "--valid-from", str(today),
             "--valid-until", str(today + dt.timedelta(days=180))], env=env, cwd=work)
        say("  council, with the new key: " + good_standing.stdout.strip())
        wait_for("the good-standing certificate to verify", lambda: True if stub.Verify(
            registry_pb2.VerifyRequest(credential_id="KE-NCK/GS-10001"), timeout=5).verified else None,
            services=(registry,))
        say("  London verifies KE-NCK/GS-10001 signed by the new key: VERIFIED")
        stolen_at = dt.datetime.now(dt.UTC)
        reported = run_cli(["trust", "report-compromise", "--root-key", "root.key", "--issuer-id", "KE-NCK",
                            "--keyid", old_keyid[:16], "--at", stolen_at.isoformat()], env=env, cwd=work)
        say("  federation: " + reported.stdout.strip())
        # The thief signs a licence for someone never registered, with the stolen key.
        thief = issue(
            [IssueAttestation(issuer_id="KE-NCK", jurisdiction="KE", local_number="66666", kind=LICENCE,
                              practitioner_number="NCK-66666", family_name="Kamau", given_names="John",
                              date_of_birth=dt.date(1985, 5, 5), country_of_training="KE", profession_isco="2221",
                              valid_until=today.replace(year=today.year + 2))],
            signer=load_signer(work / "ke-nck.key", passphrase=read_passphrase()), publisher=producer, topics=topics,
            ledger=SqliteIssuedLedger(work / "thief.ledger.db"), now=dt.datetime.now(dt.UTC),
        )
        assert thief[0].confirmed
        refused_thief = wait_for("the forged licence to be refused", lambda: next((reason_code(d.reason) for d in
                                 dead_letters(bootstrap, topics) if d.key == b"KE-NCK/66666"), None),
                                 services=(registry,))
        still = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/10001"), timeout=5)
        say("  a licence the thief signed with the stolen key: refused as %s" % refused_thief)
        say("  KE-NCK/10001, signed by the same key before it was stolen: still %s"
            % ", ".join(reason_code(r) for r in still.reasons))

        section("7. London registers applicants (gRPC RecordRegistration)")
        to_register = (
            ["KE-NCK/%d" % (10000 + n) for n in (1, 3, 4, 5, 6, 7, 8, 9, 10, 11)]
            + ["RO-CMR/%d" % (10000 + n) for n in range(1, 9)]
            + ["LK-SLMC/%d" % (10000 + n) for n in range(1, 6)]
            + ["TT-NMC/%d" % (10000 + n) for n in range(1, 4)]
        )
        # Registrations of last month, so that its flow statistics can be final by section 7.
        last_month = today.replace(day=1) - dt.timedelta(days=1)
        registered_on = to_date(last_month.replace(day=15))
        period = "%04d-%02d" % (last_month.year, last_month.month)
        recorded: Counter[str] = Counter()
        for credential_id in to_register:
            reply = stub.RecordRegistration(
                registry_pb2.RecordRegistrationRequest(credential_id=credential_id, registered_on=registered_on),
                timeout=10,
            )
            recorded[reply.move.origin_country] += 1
        again = stub.RecordRegistration(
            registry_pb2.RecordRegistrationRequest(credential_id="KE-NCK/10001", registered_on=registered_on),
            timeout=10,
        )
        try:
            stub.RecordRegistration(registry_pb2.RecordRegistrationRequest(credential_id="KE-NCK/10013"), timeout=10)
            refused = "accepted (unexpected)"
        except grpc.RpcError as exc:
            refused = "%s" % exc.code().name  # type: ignore[attr-defined]
        say(
            "  %d moves emitted: %s"
            % (sum(recorded.values()), ", ".join("%s->GB %d" % (c, n) for c, n in sorted(recorded.items())))
        )
        say("  the same nurse registered twice: already_recorded=%s, nothing new emitted" % again.already_recorded)
        say("  registering the suspended nurse: refused with %s" % refused)

        section("8. Flow statistics for statisticians (k=%d, from %s)" % (K, topics.flow_statistics))
        # The worker starts after the month's registrations and with no grace period, so the
        # month is closed and its final, anonymised release comes out at once.
        flowstats = Service(
            "flowstats",
            ["flows", "worker", "--k", str(K), "--grace", "0s", "--data-dir", "flowstats"],
            env=env,
            cwd=work,
        )
        services.append(flowstats)

        def final_release() -> dict[str, moves_pb2.FlowStatistic] | None:
            latest = read_statistics(KafkaSettings(bootstrap, topics), topics.flow_statistics, idle_timeout=1.5)
            grand_total = latest.get("%s|_T|_T|_T" % period)
            return latest if grand_total is not None and grand_total.final else None

        latest = wait_for(
            "the final flow statistics of %s" % period, final_release, timeout=120, services=(flowstats,)
        )
        say("  %-8s %-8s %-11s %-12s %-8s %-10s %s" % (
            "period", "origin", "destination", "profession", "measure", "value", "method"))
        shown = [
            stat for stat in latest.values()
            if stat.period == period and stat.destination_country == "GB"
            and (stat.measure == "moves" or stat.profession_group == "_T")
            and (stat.origin_country not in ("_T", "_INTRA", "_INTER") or stat.profession_group == "_T")
        ]
        for stat in sorted(shown, key=lambda s: (s.measure, s.origin_country.startswith("_"), s.origin_country,
                                                  s.profession_group)):
            say(
                "  %-8s %-8s %-11s %-12s %-8s %-10s %s k=%s, %s"
                % (
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
            )
        exported = run_cli(["flows", "export", "--format", "csv", "--final-only", "--output", "flows.csv",
                            "--idle-timeout", "1.5"], env=env, cwd=work)
        say("  (_T: all, _INTRA/_INTER: origins in the same UN M49 region as GB or another one)")
        say("  " + exported.stderr.strip().splitlines()[-1] + ": the OECD.Stat-style CSV for statisticians")

        section("9. Dead letters (%s)" % topics.rejected)
        for record in dead_letters(bootstrap, topics):
            say(
                "  %-16s %-22s %s"
                % (record.key.decode(errors="replace")[:16], reason_code(record.reason), record.detail[:90])
            )
        attacker.close()
        producer.close()
        channel.close()
        say()
        say("demo complete: work files in %s" % work)
        return 0
    finally:
        for service in services:
            service.stop()
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
