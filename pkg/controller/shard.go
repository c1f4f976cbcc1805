package controller

import (
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
)

// ShardChanged acts on a change of this replica's share (the shard
// manager calls it after the Shard gate stopped the keys it took away):
// a Mydemo lost is forgotten — its probes stop, nothing is written, the
// new owner carries on from the recorded status — and a Mydemo gained is
// queued; its sync seeds the prober from the status and slices the last
// owner left (seed.go), as after a restart, so the move flips nothing.
func (c *Controller) ShardChanged(before, after func(key string) bool) {
	list, err := c.mydemoLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, md := range list {
		key := cache.MetaObjectToName(md)
		had, has := before(key.String()), after(key.String())
		switch {
		case has && !had:
			c.queue.Add(key)
		case had && !has:
			c.forget(key)
		}
	}
}
