package broker

import (
	"encoding/base64"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"micro.dev/micro/framework/errors"
	pb "micro.dev/micro/proto/broker"
)

// In a cluster (WithNATS) messages travel as NATS core messages, so a
// publish on one node reaches subscribers on every node; a queue is a NATS
// queue group, whose each message goes to one member cluster-wide. The
// block's own rules stay: namespaces, limits, headers, and a subscriber
// whose buffer is full is ended with a 429. What differs: a queue's
// message that NATS hands to a full member is lost to the queue (NATS
// picks the member, not the block), and delivery between nodes is NATS's
// at-most-once.

// subjectPrefix keeps the broker's subjects apart from everything else on
// the cluster's NATS.
const subjectPrefix = "micro.broker."

// WithNATS makes the broker deliver through nc (the node's connection to
// its cluster) instead of in memory.
func WithNATS(nc *nats.Conn) Option {
	return func(b *Broker) { b.nc = nc }
}

// token encodes a namespace, topic or queue as one NATS subject token:
// subjects allow few characters and '.' separates tokens, while topics may
// hold anything. base64url only uses [A-Za-z0-9_-]; the leading '_' keeps
// the token non-empty.
func token(s string) string { return "_" + base64.RawURLEncoding.EncodeToString([]byte(s)) }

func subject(k topicKey) string { return subjectPrefix + token(k.ns) + "." + token(k.topic) }

// publishNATS sends msg to every node's subscribers.
func (b *Broker) publishNATS(k topicKey, msg *pb.Message) error {
	data, err := proto.Marshal(msg)
	if err != nil {
		return errors.InternalServerError(errID, "encoding the message: %v", err)
	}
	if err := b.nc.Publish(subject(k), data); err != nil {
		return errors.ServiceUnavailable(errID, "publishing to the cluster: %v", err)
	}
	return nil
}

// subscribeNATS feeds s from the topic's subject (its queue group when
// queue is set) until the returned func is called. It returns once the
// node's server has the interest, so a publish after that reaches s.
func (b *Broker) subscribeNATS(k topicKey, queue string, s *subscriber) (func(), error) {
	deliver := func(m *nats.Msg) {
		msg := &pb.Message{}
		if err := proto.Unmarshal(m.Data, msg); err != nil {
			b.log.Warn("broker: dropped a message that is not one", "subject", m.Subject, "err", err)
			return
		}
		if !s.offer(msg) {
			what := "subscriber"
			if queue != "" {
				what = "queue subscriber"
			}
			s.end(errors.TooManyRequests(errID, "%s to %s too slow: %d messages waiting; subscribe again", what, k.topic, b.buffer))
		}
	}
	var sub *nats.Subscription
	var err error
	if queue == "" {
		sub, err = b.nc.Subscribe(subject(k), deliver)
	} else {
		sub, err = b.nc.QueueSubscribe(subject(k), token(queue), deliver)
	}
	if err == nil {
		err = b.nc.Flush()
	}
	if err != nil {
		if sub != nil {
			sub.Unsubscribe()
		}
		return nil, errors.ServiceUnavailable(errID, "subscribing on the cluster: %v", err)
	}
	return func() { sub.Unsubscribe() }, nil
}
