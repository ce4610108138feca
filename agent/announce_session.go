package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/restic-manager/restic-manager/topics"
)

// Timings of the announce exchange; variables only so that tests can
// shorten them (export_test.go).
var (
	// announceAnswerTimeout is how long a hello or a proof may go without a
	// challenge or status before the connection is retried: long enough for
	// a busy server, short enough that a lost message, or a hello the server
	// ignored because of its per-address limit, does not strand us.
	announceAnswerTimeout = 30 * time.Second
	// reannounceInterval is how often a waiting agent announces again on its
	// connection, so the server sees it is still there (pending rows
	// expire) and an expired row comes back.
	reannounceInterval = 15 * time.Minute
)

// maxQueuedAnswers bounds announce messages waiting to be handled; the
// server sends one or two per hello.
const maxQueuedAnswers = 32

// pendingSession is one connection as a pending client (DESIGN §4.2): its
// own paho client with a fresh store, like the agent's session, but with a
// clean session: the broker keeps nothing for a pending client once its
// connection ends (it has no secret, so what it may hold is bounded), and
// asking for more would only be overruled. Nothing is lost by it: every
// connection announces again, and the server answers with the machine's
// current state (still pending, or the approval with its credentials).
type pendingSession struct {
	an *announcer
	// established is set once connect, subscribe and hello all succeeded.
	established bool
	// challenges counts the challenges answered since the last hello.
	challenges int
}

// failureVerb says, for the log, whether a connection was lost or never made.
func (s *pendingSession) failureVerb() string {
	if s.established {
		return "announce connection lost; retrying"
	}
	return "cannot connect to announce; retrying"
}

// run connects, announces and answers the server until it approves
// (returning the opened credentials), rejects (a *finalError), the
// connection ends or ctx is done.
func (s *pendingSession) run(ctx context.Context) (*topics.ApprovedCredentials, error) {
	an := s.an
	dialCtx, cancelDial := context.WithCancel(context.Background())
	defer cancelDial()
	c := an.keys.ClientID()
	answers := make(chan mqtt.Message, maxQueuedAnswers)
	lost := make(chan error, 1)
	opts := sessionOptions(an.boot.broker, c, an.password, brokerDialer(dialCtx, an.boot.ca, nil), lost).
		SetCleanSession(true).
		// Handled on our goroutine, not paho's: answering publishes and
		// waits for a PUBACK, which paho's router cannot deliver while it
		// is blocked in a handler.
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			select {
			case answers <- m:
			default:
				an.log.Warn("dropped an announce message: too many at once", "topic", clipText(m.Topic()))
			}
		})
	client := mqtt.NewClient(opts)
	if _, err := connectSession(ctx, client, cancelDial); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if refusedPending(err) {
			// An external broker knows the pending client only while its
			// registration lasts: register again before the next attempt.
			an.registered = false
		}
		return nil, describePendingConnectError(err)
	}
	if err := s.subscribe(ctx, client, lost); err != nil {
		client.Disconnect(quiesce)
		return nil, err
	}
	if err := s.hello(ctx, client, lost); err != nil {
		client.Disconnect(quiesce)
		return nil, err
	}
	s.established = true
	an.log.Info("connected as a pending client; announced", "broker", an.boot.broker.Redacted(), "client", c)

	answerDue := time.NewTimer(announceAnswerTimeout)
	defer answerDue.Stop()
	reannounce := time.NewTicker(reannounceInterval)
	defer reannounce.Stop()
	for {
		var creds *topics.ApprovedCredentials
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case err = <-lost:
			return nil, fmt.Errorf("connection lost: %w", err)
		case <-answerDue.C:
			err = fmt.Errorf("the server did not answer within %s: is it new enough for announce, or limiting announces from this address?", announceAnswerTimeout)
		case <-reannounce.C:
			err = s.hello(ctx, client, lost)
			answerDue.Reset(announceAnswerTimeout)
		case m := <-answers:
			creds, err = s.handle(ctx, client, lost, m, answerDue)
		}
		if creds != nil || err != nil {
			// Clean DISCONNECT also after an approval: the pending client
			// is done, the host connects with its own identity next.
			client.Disconnect(quiesce)
			return creds, err
		}
	}
}

// handle acts on one message from the server. It returns credentials on an
// approval, an error to end the session, or neither to keep waiting.
// Messages are untrusted bytes: malformed ones are logged and dropped.
func (s *pendingSession) handle(ctx context.Context, client mqtt.Client, lost <-chan error, m mqtt.Message, answerDue *time.Timer) (*topics.ApprovedCredentials, error) {
	an := s.an
	if m.Topic() != topics.AnnounceRespTopic(an.keys.ClientID()) {
		an.log.Warn("dropped a message on a topic that is not this client's announce answer", "topic", clipText(m.Topic()))
		return nil, nil
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(m.Payload(), &head); err != nil {
		an.log.Warn("dropped a malformed announce answer", "bytes", len(m.Payload()), "err", clipText(err.Error()))
		return nil, nil
	}
	switch head.Type {
	case topics.TypeAnnounceChallenge:
		var ch topics.AnnounceChallenge
		if err := topics.Decode(m.Payload(), &ch); err != nil {
			an.log.Warn("dropped a malformed challenge", "err", clipText(err.Error()))
			return nil, nil
		}
		answerDue.Reset(announceAnswerTimeout)
		// The server keeps one challenge per client, replaced by every hello
		// and used up by any proof. A challenge for an earlier hello (a
		// re-announce crossing a challenge in flight) can arrive before the
		// one for the latest hello, and its proof uses that one up. So only
		// the first challenge after a hello is answered; a second means the
		// first was stale, and a new hello starts over.
		if s.challenges > 0 {
			an.log.Info("a second challenge for one announce (the first was left from an earlier connection); announcing again")
			return nil, s.hello(ctx, client, lost)
		}
		s.challenges++
		an.log.Debug("challenge received; proving the key", "id", clipText(ch.ID))
		return nil, s.publish(ctx, client, lost, an.keys.proof(ch.Nonce))
	case topics.TypeAnnounceStatus:
		var st topics.AnnounceStatus
		if err := topics.Decode(m.Payload(), &st); err != nil {
			an.log.Warn("dropped a malformed announce status", "err", clipText(err.Error()))
			return nil, nil
		}
		answerDue.Stop()
		return an.decided(&st)
	default:
		an.log.Warn("dropped an announce answer of an unknown type", "type", clipText(head.Type))
		return nil, nil
	}
}

// decided acts on a status: keep waiting, take the approval, or give up.
func (an *announcer) decided(st *topics.AnnounceStatus) (*topics.ApprovedCredentials, error) {
	switch st.State {
	case topics.AnnouncePending:
		an.waiting(st.Fingerprint, st.Message)
		return nil, nil
	case topics.AnnounceApproved:
		creds, err := an.open(st.Sealed)
		if err != nil {
			return nil, &finalError{err}
		}
		an.log.Info("approved by an admin", "host_id", creds.HostID, "host_name", clipText(creds.HostName))
		return creds, nil
	default: // rejected (Validate allows nothing else): by an admin, or the server's limits
		msg := clipText(st.Message)
		if msg == "" {
			msg = "no reason given; ask an admin before announcing again"
		}
		return nil, &finalError{fmt.Errorf("announce: %w (fingerprint %s): %s", ErrRejected, an.keys.Fingerprint(), msg)}
	}
}

// subscribe subscribes to this client's announce answers with QoS 1.
func (s *pendingSession) subscribe(ctx context.Context, client mqtt.Client, lost <-chan error) error {
	return subscribeChecked(ctx, client, lost, topics.AnnounceRespTopic(s.an.keys.ClientID()), "pending clients")
}

// hello announces this machine (again) on this connection.
func (s *pendingSession) hello(ctx context.Context, client mqtt.Client, lost <-chan error) error {
	s.challenges = 0
	return s.publish(ctx, client, lost, s.an.keys.hello(s.an.hostname, s.an.resticVersion))
}

// publish sends an announce message with QoS 1 and waits for the PUBACK.
func (s *pendingSession) publish(ctx context.Context, client mqtt.Client, lost <-chan error, p topics.Payload) error {
	data, err := topics.Encode(p)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.Env().Type, err)
	}
	topic := topics.AnnounceReqTopic(s.an.keys.ClientID())
	if err := waitToken(ctx, client.Publish(topic, 1, false, data), lost); err != nil {
		return fmt.Errorf("publish %s: %w", p.Env().Type, err)
	}
	return nil
}

// refusedPending reports whether the broker refused the pending client's
// credentials.
func refusedPending(err error) bool {
	return errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised)
}

// describePendingConnectError adds what to do to the broker's refusals.
func describePendingConnectError(err error) error {
	if refusedPending(err) {
		return fmt.Errorf("the broker refused this pending client (%w): the server may not accept announces now (too many pending machines, or announce is off); ask an admin", err)
	}
	return err
}
