package metrics

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-base/metrics"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/controller"
)

// Endpoint states of crddemo_mydemo_endpoints: every entry of
// status.endpoints is in exactly one.
const (
	// endpointReady: published, in rotation, ready in its slice.
	endpointReady = "ready"
	// endpointNotReady: published and in rotation, but its probe fails
	// (or has no verdict yet).
	endpointNotReady = "not_ready"
	// endpointRefused: not published, because an address rule refused it.
	endpointRefused = "refused"
	// endpointUnserved: not published, because the cluster serves no
	// Service of its IP family (FamilyNotServed). No address rule is
	// involved, so it is kept out of refused, which MydemoAddressesRefused
	// answers with an AddressPolicy.
	endpointUnserved = "unserved"
	// endpointDraining: published and taken out of rotation by
	// spec.endpoints[].drain.
	endpointDraining = "draining"
)

// Indexes of the states in endpointStates and in countEndpoints' result.
const (
	iReady = iota
	iNotReady
	iRefused
	iDraining
	iUnserved
	nEndpointStates
)

// endpointStates is the order the series are written in; every Mydemo has
// all five, zeros included, so that a query such as "refused > 0" does not
// have to tell a missing series from a healthy Mydemo.
var endpointStates = [nEndpointStates]string{
	iReady:    endpointReady,
	iNotReady: endpointNotReady,
	iRefused:  endpointRefused,
	iDraining: endpointDraining,
	iUnserved: endpointUnserved,
}

// mydemoConditionTypes are the conditions reported per Mydemo. The first
// three are always set by the controller (Unknown until then);
// CertificateValid only when a TLS probe saw a certificate, so it has a
// series only then.
var mydemoConditionTypes = [...]string{
	crddemov1.ConditionPublished,
	crddemov1.ConditionReachable,
	crddemov1.ConditionReady,
	crddemov1.ConditionCertificateValid,
}

var (
	mydemoEndpointsDesc = metrics.NewDesc(namespace+"_mydemo_endpoints",
		"Endpoints of one Mydemo by state (ready, not_ready, refused, draining, unserved), from status.endpoints in the controller's cache.",
		[]string{"namespace", "name", "state"}, nil, metrics.ALPHA, "")
	mydemoConditionDesc = metrics.NewDesc(namespace+"_mydemo_status_condition",
		"1 for the current status (True, False, Unknown) of each condition of one Mydemo, from the controller's cache: one series per Mydemo and condition.",
		[]string{"namespace", "name", "condition", "status"}, nil, metrics.ALPHA, "")
	mydemoRoleEndpointsDesc = metrics.NewDesc(namespace+"_mydemo_role_endpoints",
		"Endpoints the Service of one role of one Mydemo publishes (status.roles[].ready), from the controller's cache: one series per Mydemo and role.",
		[]string{"namespace", "name", "role"}, nil, metrics.ALPHA, "")
)

// mydemoCollector reports every Mydemo's endpoint counts, conditions and
// roles' endpoint counts at scrape time, from the informer cache: a probe
// or a sync costs no metric work, and a deleted Mydemo's series end with
// it. The labels are the
// Mydemo's namespace and name only (never an address), and a role's name
// (at most crddemov1.MaxRoles of them), so the series are at most nine
// per Mydemo, plus one per role, whatever its number of endpoints.
type mydemoCollector struct {
	metrics.BaseStableCollector
	lister ConditionLister
}

func (c *mydemoCollector) DescribeWithStability(ch chan<- *metrics.Desc) {
	ch <- mydemoEndpointsDesc
	ch <- mydemoConditionDesc
	ch <- mydemoRoleEndpointsDesc
}

func (c *mydemoCollector) CollectWithStability(ch chan<- metrics.Metric) {
	mydemos, err := c.lister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, md := range mydemos {
		counts := countEndpoints(md.Status.Endpoints)
		for i, state := range endpointStates {
			ch <- metrics.NewLazyConstMetric(mydemoEndpointsDesc, metrics.GaugeValue, float64(counts[i]), md.Namespace, md.Name, state)
		}
		for _, t := range mydemoConditionTypes {
			status := metav1.ConditionUnknown
			cond := meta.FindStatusCondition(md.Status.Conditions, t)
			switch {
			case cond != nil:
				status = cond.Status
			case t == crddemov1.ConditionCertificateValid:
				continue
			}
			ch <- metrics.NewLazyConstMetric(mydemoConditionDesc, metrics.GaugeValue, 1, md.Namespace, md.Name, t, string(status))
		}
		// A role's Service may be empty while the Mydemo's is Ready
		// (no endpoint passes the role's probe, or more than
		// maxEndpoints do): only this series shows it.
		for _, r := range md.Status.Roles {
			ch <- metrics.NewLazyConstMetric(mydemoRoleEndpointsDesc, metrics.GaugeValue, float64(r.Ready), md.Namespace, md.Name, r.Name)
		}
	}
}

// countEndpoints counts status.endpoints by state, in endpointStates'
// order.
func countEndpoints(eps []crddemov1.EndpointStatus) [nEndpointStates]int {
	var counts [nEndpointStates]int
	for _, e := range eps {
		switch {
		case !e.Published && e.Reason == controller.ReasonFamilyNotServed:
			counts[iUnserved]++
		case !e.Published:
			counts[iRefused]++
		case e.Reason == controller.ReasonDraining:
			counts[iDraining]++
		case e.Ready:
			counts[iReady]++
		default:
			counts[iNotReady]++
		}
	}
	return counts
}
