"""Sign in Nairobi, admit on the hub, verify in London, count the move for Geneva: every service on
real Kafka and real gRPC sockets, each its own process started from the `credverify` command. The
hub carries digests of the nurses' details; each nurse carries her credential and presents it."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import grpc
import pytest
from kafka import KafkaConsumer, KafkaProducer

from credverify.core.attestation import verify_attestation
from credverify.core.envelope import keyid_of
from credverify.core.errors import reason_code
from credverify.core.keys import load_public_key
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.core.topics import Topics
from credverify.core.trust import RootKeys, TrustList, verify_issuer_record
from credverify.localrun import Service, cli_env, free_port, run_cli, serving, wait_for
from credverify.v1 import envelope_pb2, moves_pb2, registry_pb2, registry_pb2_grpc
from tests.integration.test_admission import create_submission_topic
from tests.privacy_scan import personal_data_in

pytestmark = pytest.mark.kafka

NURSES = [
    ("12345", "NCK-12345", "Wanjiru", "Grace Akinyi", "1992-03-14"),
    ("23456", "NCK-23456", "Otieno", "Brian Ochieng", "1988-11-02"),
]


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        records: list[tuple[bytes, bytes]] = []
        for _ in range(10):
            for batch in consumer.poll(timeout_ms=300).values():
                records += [(r.key, r.value) for r in batch]
        return records
    finally:
        consumer.close()


@pytest.fixture
def council(tmp_path: Path, kafka_bootstrap: str, topics: Topics) -> dict[str, object]:
    """A federation root, the Nursing Council of Kenya on the trust list with its submission topic,
    two nurses attested (submitted, not yet admitted)."""
    env = cli_env(kafka_bootstrap, topics.prefix)
    create_submission_topic(KafkaSettings(kafka_bootstrap, topics), "KE-NCK")
    run_cli(["trust", "init-root", "--key", "root.key"], env=env, cwd=tmp_path)
    run_cli(["issuer", "keygen", "--key", "ke.key"], env=env, cwd=tmp_path)
    run_cli(["trust", "register-issuer", "--root-key", "root.key", "--issuer-id", "KE-NCK", "--country", "KE",
             "--name", "Nursing Council of Kenya", "--kinds", "LICENCE,GOOD_STANDING", "--isco", "2221,2222,3221",
             "--issuer-public-key", "ke.pub.pem"], env=env, cwd=tmp_path)
    for number, practitioner, family, given, dob in NURSES:
        (tmp_path / "subject.txt").write_text(
            "practitioner_number=%s\nfamily_name=%s\ngiven_names=%s\ndate_of_birth=%s\ncountry_of_training=KE\n"
            % (practitioner, family, given, dob))
        out = run_cli(["issuer", "issue", "--key", "ke.key", "--issuer-id", "KE-NCK", "--jurisdiction", "KE",
                       "--number", number, "--subject-file", "subject.txt", "--isco", "2221",
                       "--valid-until", "2030-12-31", "--credential-out", "nurse-%s.sd-jwt" % number],
                      env=env, cwd=tmp_path)
        assert "delivered KE-NCK/%s" % number in out.stdout, out.stdout
        assert (tmp_path / ("nurse-%s.sd-jwt" % number)).stat().st_mode & 0o777 == 0o600
        assert (tmp_path / ("nurse-%s.sd-jwt.qr.png" % number)).is_file()
    (tmp_path / "pseudonym.key").write_bytes(base64.b64encode(b"p" * 48))
    return {"env": env, "dir": tmp_path}


def presentation(cwd: Path, env: dict[str, str], number: str, disclose: str) -> str:
    """What the nurse hands London: her credential with only the claims in ``disclose``."""
    return run_cli(["holder", "present", "--credential", "nurse-%s.sd-jwt" % number, "--disclose", disclose],
                   env=env, cwd=cwd).stdout.strip()


PERSONAL = [value for _, practitioner, family, given, dob in NURSES
            for value in (practitioner, family, given, given.split()[0], dob, dob.replace("-", ""))]


def test_attestation_is_verified_across_countries_and_counted_anonymously(
    council: dict[str, object], kafka_bootstrap: str, topics: Topics
) -> None:
    env, cwd = council["env"], council["dir"]
    assert isinstance(env, dict) and isinstance(cwd, Path)
    port = free_port()
    target = "127.0.0.1:%d" % port
    # The federation operator's admission: the only writer of the attestations topic.
    admission = Service("admission", ["hub", "admit", "--db", "admission.db", "--root-key", "root.pub.pem",
                                      "--health-file", "admission.health", "--log-format", "text"],
                        env=env, cwd=cwd)
    registry = Service("registry", ["registry", "serve", "--db", "registry.db", "--listen", target,
                                    "--root-key", "root.pub.pem", "--country", "GB",
                                    "--pseudonym-key-file", "pseudonym.key", "--plaintext-for-local-use"],
                       env=env, cwd=cwd)
    flowstats = Service("flowstats", ["flowstats", "worker", "--k", "2", "--provisional-interval", "1s",
                                      "--data-dir", "flowstats-data"],
                        env=env, cwd=cwd)
    try:
        wait_for("the registry to report SERVING", lambda: serving(target), services=(registry, admission))
        channel = grpc.insecure_channel(target)
        stub = registry_pb2_grpc.RegistryServiceStub(channel)

        # London asks: is KE-NCK/12345 genuine, current, and this applicant's? She presents her
        # credential, disclosing what the case officer compares with her passport.
        claimed = registry_pb2.ClaimedSubject(family_name="WANJIRU", given_names="Grace Akinyi",
                                              date_of_birth=to_date(dt.date(1992, 3, 14)))
        shown = presentation(cwd, env, "12345", "family_name,given_names,birth_date")

        def admitted() -> registry_pb2.VerifyResponse | None:
            reply = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/12345", claimed=claimed,
                                                           presentation=shown), timeout=5)
            return None if [reason_code(r) for r in reply.reasons] == ["NOT_FOUND"] else reply

        answer = wait_for("KE-NCK/12345 admitted and ingested", admitted, services=(registry, admission))
        assert answer.verified, answer.detail
        assert [reason_code(r) for r in answer.reasons] == ["VERIFIED"]
        assert not answer.attestation.HasField("subject"), "the registry holds no details of hers"
        assert answer.disclosed["family_name"] == "Wanjiru"

        # Without her presentation London learns the credential's status, not who holds it.
        bare = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/12345", claimed=claimed), timeout=5)
        assert not bare.verified and "SUBJECT_NOT_CHECKED" in [reason_code(r) for r in bare.reasons]
        assert not bare.disclosed

        # Neither the council's submission topic nor the hub carries any of the nurses' details.
        for topic in (topics.submissions("KE-NCK"), topics.attestations):
            records = read_topic(kafka_bootstrap, topic)
            assert len(records) >= len(NURSES)
            assert [personal_data_in(k + v, PERSONAL) for k, v in records] == [[]] * len(records)

        # The evidence re-verifies offline with nothing but the root key and the trust list topic.
        root_key = load_public_key((cwd / "root.pub.pem").read_bytes())
        trust = TrustList()
        for _, value in read_topic(kafka_bootstrap, topics.trust_list):
            trust = trust.applied(verify_issuer_record(value, roots=RootKeys({keyid_of(root_key): root_key})))
        offline = verify_attestation(answer.evidence.SerializeToString(), trust=trust, record_key="KE-NCK/12345")
        assert offline.attestation == answer.attestation

        # A forger with Kenya's hub credentials edits a genuine envelope into a credential of their own
        # and submits it: admission refuses it, so it never reaches the registry.
        forged = envelope_pb2.Envelope()
        forged.CopyFrom(answer.evidence)
        forged.payload = forged.payload.replace(b"KE-NCK/12345", b"KE-NCK/99999")
        forged_bytes = forged.SerializeToString()
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        producer.send(topics.submissions("KE-NCK"), key=b"KE-NCK/99999", value=forged_bytes,
                      headers=[("payload-type", forged.payloadType.encode())]).get(timeout=30)
        producer.close()

        def dead_letters() -> list[registry_pb2.RejectedRecord] | None:
            found = [registry_pb2.RejectedRecord.FromString(v) for _, v in read_topic(kafka_bootstrap,
                                                                                       topics.rejected)]
            return found or None

        dead = wait_for("admission to refuse the forged record", dead_letters, services=(admission,))
        assert [(d.key, reason_code(d.reason), d.value) for d in dead] == [
            (b"KE-NCK/99999", "SIGNATURE_INVALID", forged_bytes)]
        assert dead[0].source_topic == topics.submissions("KE-NCK")
        assert all(key != b"KE-NCK/99999" for key, _ in read_topic(kafka_bootstrap, topics.attestations))
        forged_answer = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/99999"), timeout=5)
        assert [reason_code(r) for r in forged_answer.reasons] == ["NOT_FOUND"]

        # Unknown and malformed requests get the right answers, not INTERNAL.
        missing = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/00000"), timeout=5)
        assert [reason_code(r) for r in missing.reasons] == ["NOT_FOUND"]
        with pytest.raises(grpc.RpcError) as bad:
            stub.Verify(registry_pb2.VerifyRequest(credential_id=""), timeout=5)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]

        # London registers both nurses: one anonymised move each, and a repeat emits nothing new.
        moves = []
        today = dt.datetime.now(dt.UTC).date()
        for number, *_ in NURSES:
            reply = stub.RecordRegistration(registry_pb2.RecordRegistrationRequest(
                credential_id="KE-NCK/" + number, registered_on=to_date(today),
                presentation=presentation(cwd, env, number, "practitioner_number,country_of_training")), timeout=10)
            assert not reply.already_recorded
            moves.append(reply.move)
        repeat = stub.RecordRegistration(registry_pb2.RecordRegistrationRequest(
            credential_id="KE-NCK/12345", registered_on=to_date(today),
            presentation=presentation(cwd, env, "12345", "practitioner_number,country_of_training")), timeout=10)
        assert repeat.already_recorded and repeat.move == moves[0]
        published = [moves_pb2.VerifiedMove.FromString(v) for _, v in read_topic(kafka_bootstrap,
                                                                                  topics.verified_moves)]
        assert sorted(m.move_id for m in published) == sorted(m.move_id for m in moves)
        for _, raw in read_topic(kafka_bootstrap, topics.verified_moves):
            for personal in (b"Wanjiru", b"Otieno", b"NCK-12345", b"1992"):
                assert personal not in raw

        # Geneva reads the statistic: two Kenyan nurses registered in the UK this month (a month
        # still open, so the figure is provisional; a closed month would count them as late).
        def statistic_published() -> moves_pb2.FlowStatistic | None:
            for key, value in read_topic(kafka_bootstrap, topics.flow_statistics):
                stat = moves_pb2.FlowStatistic.FromString(value)
                if key == b"%04d-%02d|KE|GB|nurses" % (today.year, today.month) and stat.value == 2:
                    return stat
            return None

        stat = wait_for("a flow statistic for KE->GB nurses", statistic_published, timeout=90,
                        services=(registry, flowstats))
        assert not stat.suppressed and stat.method == "threshold" and stat.parameters["k"] == "2"
        channel.close()
    finally:
        assert registry.stop() == 0, registry.log()[-3000:]
        flowstats.stop()
        assert admission.stop() == 0, admission.log()[-3000:]
