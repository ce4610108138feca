package brokertest_test

import (
	"errors"
	"testing"

	"github.com/restic-manager/restic-manager/broker"
	"github.com/restic-manager/restic-manager/broker/brokertest"
)

func TestStaticAuth(t *testing.T) {
	const hostA = "h_alpha"
	a := brokertest.NewStaticAuth()
	if err := a.Add(broker.Identity{Role: broker.RoleMonitor, ID: hostA}, "x"); err == nil {
		t.Error("Add accepted a role that does not match the prefix")
	}
	id := broker.Identity{Role: broker.RoleHost, ID: hostA}
	if err := a.Add(id, "right"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Authenticate(hostA, []byte("right")); err != nil || got != id {
		t.Errorf("Authenticate(right) = %+v, %v", got, err)
	}
	for _, pw := range []string{"wrong", "", "right "} {
		if _, err := a.Authenticate(hostA, []byte(pw)); !errors.Is(err, broker.ErrDenied) {
			t.Errorf("Authenticate(%q) = %v, want ErrDenied", pw, err)
		}
	}
	a.Remove(hostA)
	if _, err := a.Authenticate(hostA, []byte("right")); !errors.Is(err, broker.ErrDenied) {
		t.Errorf("after Remove: %v, want ErrDenied", err)
	}
	a.SetError(errors.New("database is locked"))
	if err := a.Add(id, "right"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(hostA, []byte("right")); err == nil || errors.Is(err, broker.ErrDenied) {
		t.Errorf("with SetError: %v, want the error and not ErrDenied", err)
	}
	a.SetError(nil)
	if got, err := a.Authenticate(hostA, []byte("right")); err != nil || got != id {
		t.Errorf("after SetError(nil): %+v, %v", got, err)
	}
}
