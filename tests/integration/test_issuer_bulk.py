"""A council's register export through `credverify issuer bulk` to the real broker and back: what the
council published is on its own submission topic, for the hub's admission."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from credverify.core.register_csv import REQUIRED_COLUMNS
from credverify.core.topics import Topics
from credverify.localrun import cli_env, run_cli
from credverify.v1 import attestation_pb2, common_pb2, envelope_pb2
from tests.topic_reader import read_all


def write_register(path: Path, count: int, *, bad_rows: dict[int, tuple[str, str]] | None = None) -> None:
    """Write ``count`` valid practitioner rows; ``bad_rows`` maps a data row index to (column, bad value)."""
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(REQUIRED_COLUMNS))
        writer.writeheader()
        for i in range(count):
            row = {
                "credential_number": str(40000 + i), "kind": "LICENCE", "practitioner_number": "NCK-%d" % (40000 + i),
                "family_name": "Njeri", "given_names": "Ann %d" % i, "date_of_birth": "1990-01-%02d" % (1 + i % 28),
                "country_of_training": "KE", "isco": "2221" if i % 3 else "2222", "status": "ACTIVE",
                "valid_from": "2024-01-01", "valid_until": "2027-12-31",
            }
            if bad_rows and i in bad_rows:
                column, value = bad_rows[i]
                row[column] = value
            writer.writerow(row)


def bulk(tmp_path: Path, env: dict[str, str], *extra: str):  # type: ignore[no-untyped-def]
    return run_cli(["issuer", "bulk", "--key", "ke.key", "--issuer-id", "KE-NCK", "--jurisdiction", "KE",
                    "--register", "register.csv", "--no-progress", *extra], env=env, cwd=tmp_path, check=False)


def test_bulk_issue_publishes_valid_rows_once_reports_bad_ones_and_a_rerun_publishes_nothing(
    tmp_path: Path, kafka_bootstrap: str, topics: Topics
) -> None:
    env = cli_env(kafka_bootstrap, topics.prefix)
    run_cli(["issuer", "keygen", "--key", "ke.key"], env=env, cwd=tmp_path)
    write_register(tmp_path / "register.csv", 500, bad_rows={3: ("isco", "1234"), 10: ("date_of_birth", "31/12/1990")})

    strict = bulk(tmp_path, env, "--strict")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "nothing published" in strict.stdout
    assert read_all(kafka_bootstrap, topics.submissions("KE-NCK")) == []

    first = bulk(tmp_path, env)
    assert first.returncode == 1, first.stderr  # done in part: two rows were invalid
    assert "INVALID row 5: isco: expected an ISCO-08 health unit group" in first.stdout
    assert "INVALID row 12: date_of_birth: expected a date YYYY-MM-DD" in first.stdout
    assert "500 rows: 498 published and confirmed, 0 unchanged" in first.stdout
    records = read_all(kafka_bootstrap, topics.submissions("KE-NCK"))
    keys = Counter(key for key, _ in records)
    assert len(records) == 498 and max(keys.values()) == 1
    assert b"KE-NCK/40003" not in keys and b"KE-NCK/40010" not in keys

    again = bulk(tmp_path, env)
    assert "500 rows: 0 published and confirmed, 498 unchanged" in again.stdout
    assert len(read_all(kafka_bootstrap, topics.submissions("KE-NCK"))) == 498

    # Fix the two rows and change one practitioner's name: exactly three records more.
    write_register(tmp_path / "register.csv", 500, bad_rows={7: ("family_name", "Njeri-Kamau")})
    fixed = bulk(tmp_path, env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "500 rows: 3 published and confirmed, 497 unchanged" in fixed.stdout
    assert len(read_all(kafka_bootstrap, topics.submissions("KE-NCK"))) == 501


def test_a_status_change_is_a_new_signed_version_on_the_hub(tmp_path: Path, kafka_bootstrap: str,
                                                          topics: Topics) -> None:
    env = cli_env(kafka_bootstrap, topics.prefix)
    run_cli(["issuer", "keygen", "--key", "ke.key"], env=env, cwd=tmp_path)
    write_register(tmp_path / "register.csv", 3)
    assert bulk(tmp_path, env).returncode == 0
    out = run_cli(["issuer", "suspend", "--key", "ke.key", "--credential-id", "KE-NCK/40001",
                   "--reason", "INTERIM_ORDER"], env=env, cwd=tmp_path)
    assert out.stdout.startswith("delivered KE-NCK/40001 version ")
    refused = run_cli(["issuer", "reinstate", "--key", "ke.key", "--credential-id", "KE-NCK/40002",
                       "--reason", "SUSPENSION_ENDED"], env=env, cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "cannot reinstate a credential that is ACTIVE" in refused.stderr
    unknown = run_cli(["issuer", "revoke", "--key", "ke.key", "--credential-id", "KE-NCK/99999",
                       "--reason", "FRAUDULENT_ENTRY"], env=env, cwd=tmp_path, check=False)
    assert unknown.returncode == 2 and "never issued" in unknown.stderr

    versions = []
    for key, value in read_all(kafka_bootstrap, topics.submissions("KE-NCK")):
        if key == b"KE-NCK/40001":
            att = attestation_pb2.AttestationV2.FromString(envelope_pb2.Envelope.FromString(value).payload)
            versions.append((att.version, att.status, att.status_reason, tuple(att.subject_digests)))
    assert len(versions) == 2
    (v1, status1, _, digests1), (v2, status2, reason2, digests2) = versions
    assert v2 > v1 and status1 == common_pb2.CREDENTIAL_STATUS_ACTIVE
    assert digests2 == digests1, "a status change keeps the digests her credential opens"
    assert (status2, reason2) == (common_pb2.CREDENTIAL_STATUS_SUSPENDED, "INTERIM_ORDER")
