"""A council's register through `credverify issuer bulk --credentials-out` to a real hub: each nurse gets
her credential file and QR code, the hub's admission admits every record, and no record on the council's
submission topic or on the hub's attestations topic holds a name, birth date or register number of the
CSV, in any encoding."""

from __future__ import annotations

import csv
import io
import stat
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from credverify.core.keys import load_signer
from credverify.core.sdjwt import holder_claims, hub_digests
from credverify.core.settings import KafkaSettings
from credverify.localrun import cli_env, run_cli
from credverify.v1 import attestation_pb2, envelope_pb2
from tests.factories import kenya_record, signed_record_bytes
from tests.integration.test_admission import records_of, start_hub
from tests.integration.test_issuer_bulk import write_register
from tests.privacy_scan import personal_data_in

pytestmark = pytest.mark.kafka

ROWS = 240


def register_values(path: Path) -> list[str]:
    """Every personal value of the register: names, birth dates (two spellings), register numbers."""
    values: set[str] = set()
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            values |= {row["family_name"], row["given_names"], row["practitioner_number"], row["date_of_birth"],
                       row["date_of_birth"].replace("-", "")}
    return sorted(values)


def test_bulk_hands_each_nurse_her_credential_and_the_hub_carries_none_of_her_details(
        tmp_path: Path, kafka_settings: KafkaSettings) -> None:
    env = cli_env(kafka_settings.bootstrap_servers, kafka_settings.topics.prefix)
    run_cli(["issuer", "keygen", "--key", "ke.key"], env=env, cwd=tmp_path)
    passphrase = env.get("CREDVERIFY_KEY_PASSPHRASE")  # the suite's, as every CLI run here uses
    signer = load_signer(tmp_path / "ke.key", passphrase=passphrase.encode() if passphrase else None)
    hub = start_hub(kafka_settings, tmp_path, issuer_records=[signed_record_bytes(kenya_record(keys=(signer,)))],
                    councils=("KE-NCK",))
    try:
        write_register(tmp_path / "register.csv", ROWS)
        out = run_cli(["issuer", "bulk", "--key", "ke.key", "--issuer-id", "KE-NCK", "--jurisdiction", "KE",
                       "--register", "register.csv", "--no-progress", "--credentials-out", "credentials"],
                      env=env, cwd=tmp_path)
        assert "%d credentials written to credentials" % ROWS in out.stdout, out.stdout
        ids = [b"KE-NCK/%d" % (40000 + i) for i in range(ROWS)]
        admitted = {r.key: r.value for r in hub.await_admitted(*ids)}

        # Nothing the council sent nor anything the hub holds names a nurse.
        personal = register_values(tmp_path / "register.csv")
        assert len(personal) > 2 * ROWS
        for topic in (kafka_settings.topics.submissions("KE-NCK"), kafka_settings.topics.attestations):
            records = records_of(kafka_settings, topic)
            assert len(records) >= ROWS
            leaks = [(r.key, personal_data_in((r.key or b"") + (r.value or b""), personal)) for r in records]
            assert [leak for leak in leaks if leak[1]] == []
    finally:
        hub.producer.close()
        hub.admission.stop()

    # Each nurse's file opens exactly the digests the hub admitted for her credential.
    folder = tmp_path / "credentials"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(folder.glob("*.sd-jwt"))
    assert len(files) == ROWS and len(list(folder.glob("*.qr.png"))) == ROWS
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        credential = path.read_text().strip()
        credential_id = holder_claims(credential)["credential_id"]
        assert path.name == str(credential_id).replace("/", "%2F") + ".sd-jwt"
        envelope = envelope_pb2.Envelope.FromString(admitted[str(credential_id).encode()])
        assert hub_digests(credential) == tuple(attestation_pb2.AttestationV2.FromString(envelope.payload)
                                                .subject_digests)
    first = files[0].read_text().strip()
    assert holder_claims(first)["family_name"] == "Njeri"

    # The QR code beside it reads back as the same credential.
    image = Image.open(io.BytesIO(files[0].with_name(files[0].name.replace(".sd-jwt", ".qr.png")).read_bytes()))
    [code] = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode, is_pure=True)
    assert code.text == first

    # The council can hand a nurse her credential again: signed now, the same digests.
    again = run_cli(["issuer", "credential", "--key", "ke.key", "--credential-id", "KE-NCK/40000",
                     "--out", "again.sd-jwt"], env=env, cwd=tmp_path)
    assert "credential written to again.sd-jwt" in again.stdout
    assert stat.S_IMODE((tmp_path / "again.sd-jwt").stat().st_mode) == 0o600
    assert hub_digests((tmp_path / "again.sd-jwt").read_text().strip()) == hub_digests(
        (folder / "KE-NCK%2F40000.sd-jwt").read_text().strip())
    unknown = run_cli(["issuer", "credential", "--key", "ke.key", "--credential-id", "KE-NCK/1",
                       "--out", "none.sd-jwt"], env=env, cwd=tmp_path, check=False)
    assert unknown.returncode != 0 and "never issued" in unknown.stderr
    assert not (tmp_path / "none.sd-jwt").exists()
