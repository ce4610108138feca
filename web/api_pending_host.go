package web

import (
	"github.com/restic-manager/restic-manager/server"
)

// apiPendingQueue is the announce queue's state in the JSON API: whether it
// is full and how many waiting machines were dropped to make room since the
// server started.
type apiPendingQueue struct {
	Waiting    int    `json:"waiting"`
	Cap        int    `json:"cap"`
	PerAddress int    `json:"per_address"`
	Full       bool   `json:"full"`
	Evicted    uint64 `json:"evicted"`
	Replaced   uint64 `json:"replaced"`
}

func newAPIPendingQueue(q server.PendingQueue) apiPendingQueue {
	return apiPendingQueue{Waiting: len(q.Hosts), Cap: q.Cap, PerAddress: q.PerAddress, Full: q.Full(),
		Evicted: q.Evicted, Replaced: q.Replaced}
}
