"""The flow-statistics worker's I/O: Kafka clients (through core's factory) and what it needs of Faust."""
