#!/bin/sh
# The hub's broker in docker compose, closed as deploy/kafka/localkafka.py closes the local one:
# SASL/SCRAM-SHA-512 for clients and inter-broker traffic, SASL PLAIN with one static user on the
# controller listener (the controller serves the metadata log that holds the SCRAM credentials, so it
# cannot check SCRAM itself), StandardAuthorizer with nothing allowed without an ACL, and the
# federation operator as the one super user. Its password comes from a file (compose's `hub-secrets`
# volume, made by the `secrets` service); the storage is formatted with the operator's SCRAM
# credential on first start only.
#
# One node (BROKERS=1, the default) or one of three (BROKERS=3, compose's `cluster` profile): nodes
# kafka, kafka-2 and kafka-3 (NODE_ID 1, 2, 3), each broker and controller, with replication factor 3,
# min.insync.replicas 2 and unclean leader election off, as deploy/kafka/localkafka.py's cluster has.
set -eu

OPERATOR=credverify-operator
PASSWORD=$(cat /run/hub-secrets/operator.password)
CONFIG=/var/lib/kafka/server.properties
DATA=/var/lib/kafka/data
NODE_ID=${NODE_ID:-1}
BROKERS=${BROKERS:-1}
umask 077

case "$BROKERS" in
  1) VOTERS="1@kafka:9093"; HOST=kafka; REPLICATION=1; MIN_ISR=1 ;;
  3) VOTERS="1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"; REPLICATION=3; MIN_ISR=2
     HOST=$([ "$NODE_ID" = 1 ] && echo kafka || echo "kafka-$NODE_ID") ;;
  *) echo "BROKERS=$BROKERS: expected 1 or 3" >&2; exit 2 ;;
esac
# Each node's port for clients on the host: 19092, 19093, 19094.
EXTERNAL_PORT=$((19091 + NODE_ID))

cat > "$CONFIG" <<EOF
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$VOTERS
controller.listener.names=CONTROLLER
listeners=SASL_PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:$EXTERNAL_PORT
advertised.listeners=SASL_PLAINTEXT://$HOST:9092,EXTERNAL://localhost:$EXTERNAL_PORT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,EXTERNAL:SASL_PLAINTEXT
inter.broker.listener.name=SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$OPERATOR" password="$PASSWORD";
listener.name.external.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$OPERATOR" password="$PASSWORD" user_$OPERATOR="$PASSWORD";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$OPERATOR
log.dirs=$DATA
num.partitions=3
default.replication.factor=$REPLICATION
min.insync.replicas=$MIN_ISR
unclean.leader.election.enable=false
offsets.topic.replication.factor=$REPLICATION
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
share.coordinator.state.topic.replication.factor=$REPLICATION
share.coordinator.state.topic.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF

# The operator's client settings, for the healthcheck (kafka-broker-api-versions.sh --command-config).
cat > /var/lib/kafka/operator-client.properties <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$OPERATOR" password="$PASSWORD";
EOF

if [ ! -f "$DATA/meta.properties" ]; then
  /opt/kafka/bin/kafka-storage.sh format --cluster-id "$CLUSTER_ID" --config "$CONFIG" --ignore-formatted \
    --add-scram "SCRAM-SHA-512=[name=$OPERATOR,password=$PASSWORD]"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$CONFIG"
