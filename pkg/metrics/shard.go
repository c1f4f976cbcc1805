package metrics

import (
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// ShardShare reports, with --sharding, the Mydemos this replica holds and
// the live replicas it shares them with, itself included.
type ShardShare func() (mydemos, members int)

var (
	shardMydemosDesc = metrics.NewDesc(namespace+"_shard_mydemos",
		"With --sharding: the Mydemos this replica holds (syncs and probes).",
		nil, nil, metrics.ALPHA, "")
	shardMembersDesc = metrics.NewDesc(namespace+"_shard_members",
		"With --sharding: the live replicas this replica shares the Mydemos with, itself included (0 while it holds none, such as when stopping).",
		nil, nil, metrics.ALPHA, "")
)

// RegisterShard adds the share gauges, read at scrape time: the share
// changes with membership and with every Mydemo created or deleted, and
// counting it only on a change of membership would miss the latter.
func RegisterShard(share ShardShare) {
	legacyregistry.CustomMustRegister(&shardCollector{share: share})
}

type shardCollector struct {
	metrics.BaseStableCollector
	share ShardShare
}

func (c *shardCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- shardMydemosDesc
	ch <- shardMembersDesc
}

func (c *shardCollector) CollectWithStability(ch chan<- metrics.Metric) {
	mydemos, members := c.share()
	ch <- metrics.NewLazyConstMetric(shardMydemosDesc, metrics.GaugeValue, float64(mydemos))
	ch <- metrics.NewLazyConstMetric(shardMembersDesc, metrics.GaugeValue, float64(members))
}
