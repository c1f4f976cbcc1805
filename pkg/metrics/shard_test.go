package metrics

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/testutil"
)

func TestShardCollector(t *testing.T) {
	mydemos, members := 1000, 3
	reg := metrics.NewKubeRegistry()
	reg.CustomMustRegister(&shardCollector{share: func() (int, int) { return mydemos, members }})
	want := func(md, m int) string {
		return fmt.Sprintf(`
# HELP crddemo_shard_members [ALPHA] With --sharding: the live replicas this replica shares the Mydemos with, itself included (0 while it holds none, such as when stopping).
# TYPE crddemo_shard_members gauge
crddemo_shard_members %d
# HELP crddemo_shard_mydemos [ALPHA] With --sharding: the Mydemos this replica holds (syncs and probes).
# TYPE crddemo_shard_mydemos gauge
crddemo_shard_mydemos %d
`, m, md)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(1000, 3)), "crddemo_shard_mydemos", "crddemo_shard_members"); err != nil {
		t.Fatal(err)
	}
	// Read at every scrape: a Mydemo created since counts at once.
	mydemos, members = 1001, 4
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(1001, 4)), "crddemo_shard_mydemos", "crddemo_shard_members"); err != nil {
		t.Fatal(err)
	}
}
