"""The only places in core that do I/O: Kafka clients, gRPC server and channel plumbing, metrics and logs.

The rest of core (envelope, keys, trust rules, attestation rules, codes, errors) is the contract and
imports none of kafka, grpc, sqlite3 or faust; a test keeps it so.
"""
