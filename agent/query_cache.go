package agent

import (
	"sync"

	"github.com/restic-manager/restic-manager/agent/restic"
	"github.com/restic-manager/restic-manager/topics"
)

// listingCache keeps the sorted folders that ls queries listed, so that
// paging through a large folder runs restic once, not once per page. A
// snapshot never changes, so a listing of a full snapshot id is valid for
// good; "latest" and short ids are never cached. It holds at most
// maxCachedEntries entries in all (about 100 bytes each), dropping the
// least recently used folders first.
type listingCache struct {
	mu      sync.Mutex
	items   []cachedListing // least recently used first
	entries int
}

type cachedListing struct {
	key string
	l   *restic.Listing
}

// maxCachedEntries bounds the cache: two folders of topics.MaxTreeEntries.
const maxCachedEntries = 2 * topics.MaxTreeEntries

// listingKey is the cache key of a folder of a snapshot in a repository,
// or "" when it must not be cached.
func listingKey(repo restic.Repository, snapshot, dir string) string {
	if !topics.ValidSnapshotID(snapshot) {
		return ""
	}
	return repo.URL + "\x00" + snapshot + "\x00" + dir
}

// get returns the cached listing of key (sorted), or nil.
func (c *listingCache) get(key string) *restic.Listing {
	if key == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, it := range c.items {
		if it.key == key {
			c.items = append(append(c.items[:i:i], c.items[i+1:]...), it)
			return it.l
		}
	}
	return nil
}

// put keeps a sorted listing under key, making room if needed.
func (c *listingCache) put(key string, l *restic.Listing) {
	if key == "" || len(l.Children) > maxCachedEntries {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.items) > 0 && c.entries+len(l.Children) > maxCachedEntries {
		c.entries -= len(c.items[0].l.Children)
		c.items = c.items[1:]
	}
	c.items = append(c.items, cachedListing{key: key, l: l})
	c.entries += len(l.Children)
}
