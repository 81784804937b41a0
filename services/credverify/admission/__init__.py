"""The hub's admission: verifies what each council submits to its own topic and alone writes the
compacted attestations topic, so that no poison, tombstone or oversized record reaches a registry."""
