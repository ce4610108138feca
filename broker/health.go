package broker

import (
	"errors"
	"fmt"
)

// Serving reports whether the broker still accepts connections: nil when it
// was started and every listener it bound is open, an error naming the
// first one that is not. The server's /healthz asks it.
func (b *Broker) Serving() error {
	if b.tcp == nil && b.tls == nil {
		return errors.New("broker: no listener is open")
	}
	for _, l := range []*listener{b.tcp, b.tls} {
		if l != nil && (l.ln == nil || l.isClosed()) {
			return fmt.Errorf("broker: the %s listener is closed", l.id)
		}
	}
	return nil
}
