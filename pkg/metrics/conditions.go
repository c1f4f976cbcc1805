package metrics

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-base/metrics"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// ConditionLister lists Mydemos from the informer cache.
type ConditionLister interface {
	List(selector labels.Selector) ([]*crddemov1.Mydemo, error)
}

var mydemosDesc = metrics.NewDesc(namespace+"_mydemos",
	"Mydemos by condition type and status (True, False, Unknown), from the controller's cache.",
	[]string{"condition", "status"}, nil, metrics.ALPHA, "")

// conditionCollector counts Mydemos by condition at scrape time, from the
// cache: nothing to keep in step on every sync, and no API request.
type conditionCollector struct {
	metrics.BaseStableCollector
	lister ConditionLister
}

func newConditionCollector(lister ConditionLister) metrics.StableCollector {
	return &conditionCollector{lister: lister}
}

func (c *conditionCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- mydemosDesc
}

func (c *conditionCollector) CollectWithStability(ch chan<- metrics.Metric) {
	mydemos, err := c.lister.List(labels.Everything())
	if err != nil {
		return
	}
	types := []string{crddemov1.ConditionPublished, crddemov1.ConditionReachable, crddemov1.ConditionReady}
	counts := map[[2]string]int{}
	for _, md := range mydemos {
		for _, t := range types {
			status := "Unknown"
			if cond := meta.FindStatusCondition(md.Status.Conditions, t); cond != nil {
				status = string(cond.Status)
			}
			counts[[2]string{t, status}]++
		}
	}
	for _, t := range types {
		for _, s := range []string{"True", "False", "Unknown"} {
			ch <- metrics.NewLazyConstMetric(mydemosDesc, metrics.GaugeValue, float64(counts[[2]string{t, s}]), t, s)
		}
	}
}
