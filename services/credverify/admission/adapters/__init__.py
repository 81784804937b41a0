"""Admission's I/O: the Kafka loop over the submission topics, and the SQLite index of what it admitted."""
