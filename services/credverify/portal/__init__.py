"""The public, read-only portal of flow statistics: charts, tables and CSV downloads of what the flows
worker published on ``credverify.flow-statistics.v1``, and nothing else."""
