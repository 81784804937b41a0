"""credverify: cross-border verification of health workers' credentials.

Where things are:
  core/        the contract in code: DSSE envelope and PAE, keys, trust rules,
               attestation verification, topics, settings, errors
  federation/  the network operator: root keys, signed issuer records (`credverify trust`)
  issuer/      a source council: sign and publish attestations (`credverify issuer`)
  registry/    a destination regulator: ingest, verify, store, answer gRPC (`credverify registry`)
  flowstats/   Faust processor: anonymised flow statistics (`credverify flowstats`)
  v1/          generated from protos/credverify/v1; never edited by hand
"""

__version__ = "0.1.0"
