package broker

import (
	"bufio"
	"reflect"
	"unsafe"
)

// ReadBuffers returns, for the connected client id, the size of mochi's
// read buffer (its unexported Client.Net.bconn, read with reflect) and of
// the listener's own (bufferedConn; 0 when the connection has none).
// Only tests are compiled with this file.
func (b *Broker) ReadBuffers(id string) (mochi, ours int, ok bool) {
	cl, found := b.srv.Clients.Get(id)
	if !found {
		return 0, 0, false
	}
	f := reflect.ValueOf(&cl.Net).Elem().FieldByName("bconn")
	r := (*bufio.Reader)(unsafe.Pointer(f.Pointer()))
	if tc := connOf(cl); tc != nil {
		if bc, isBuffered := tc.Conn.(*bufferedConn); isBuffered {
			ours = bc.r.Size()
		}
	}
	return r.Size(), ours, true
}
