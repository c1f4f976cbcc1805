package integration

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/operator"
	"github.com/crddemo/crddemo/test/dnsserver"
	"github.com/crddemo/crddemo/test/framework"
	"github.com/crddemo/crddemo/test/testhost"
)

// corednsTTL is the TTL of CoreDNS's answers and the longest its cache
// keeps one: short, so that the tests' bounds stay close to the probe's.
const corednsTTL = 2 * time.Second

// startCoreDNS runs a real CoreDNS that serves cluster DNS from the test
// API server, and stops it when the test ends.
func startCoreDNS(t *testing.T) *framework.CoreDNS {
	t.Helper()
	c, err := framework.StartCoreDNS(context.Background(), framework.Get().KubeconfigPath, t.TempDir(), corednsTTL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.Stop(10 * time.Second); err != nil {
			t.Error(err)
		}
	})
	return c
}

// dnsAnswer is what CoreDNS answers for name and qtype, as sorted strings:
// addresses for A and AAAA, "target:port" for SRV.
func dnsAnswer(t *testing.T, c *framework.CoreDNS, name string, qtype uint16) []string {
	t.Helper()
	resp, err := c.Query(context.Background(), name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range resp.Answer {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.AAAA:
			out = append(out, r.AAAA.String())
		case *dns.SRV:
			out = append(out, r.Target+":"+strconv.Itoa(int(r.Port)))
		}
	}
	slices.Sort(out)
	return out
}

// waitDNS waits until CoreDNS answers name's qtype with exactly want, and
// returns how long that took.
func waitDNS(t *testing.T, c *framework.CoreDNS, name string, qtype uint16, timeout time.Duration, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	start := time.Now()
	framework.Eventually(t, timeout, dns.TypeToString[qtype]+" "+name+" = "+strings.Join(want, ","), func() (bool, string) {
		got := dnsAnswer(t, c, name, qtype)
		return slices.Equal(got, want), "answer " + strings.Join(got, ",")
	})
	return time.Since(start)
}

// TestHeadlessDNS proves names on a real CoreDNS: a headless Mydemo's name
// answers exactly its ready endpoints, each named endpoint answers its own
// addresses (every address of a hostname endpoint), SRV lists the named
// port on every ready endpoint, and a probe flip shows in the answers
// within the probe bound plus CoreDNS's TTL, both ways. Turning headless
// off replaces the Service in one sync, and the name then answers the
// cluster IP; turning it on again answers the endpoints.
func TestHeadlessDNS(t *testing.T) {
	t.Parallel()
	a, b := testhost.Require(t), testhost.Require(t)
	const port = 5432
	for _, h := range []*testhost.Host{a, b} {
		if err := h.Serve(port); err != nil {
			t.Fatal(err)
		}
	}
	names := dnsserver.Start(t, "127.0.0.1")
	names.Set("replicas.crddemo.test", b.Addr(1), b.Addr(2))
	coredns := startCoreDNS(t)
	e := newEnv(t)
	e.startController(func(c *operator.Config) { c.DNSServer = names.Addr })

	primary, replica1, replica2 := a.Addr(1).String(), b.Addr(1).String(), b.Addr(2).String()
	e.createMydemo("db", crddemov1.MydemoSpec{
		Headless: true,
		Endpoints: []crddemov1.Endpoint{
			{IP: primary, Name: "primary"},
			{Hostname: "replicas.crddemo.test", Name: "replica"},
		},
		Ports: []crddemov1.Port{{Name: "pg", Port: port, Protocol: crddemov1.ProtocolTCP}},
		Probe: fastProbe,
	})
	e.waitEndpointsReady("db", "3/3", converge)
	svc, err := e.getService("db")
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("Service clusterIP %q, want None", svc.Spec.ClusterIP)
	}

	domain := e.ns + ".svc." + framework.ClusterDomain
	service := "db." + domain
	// The API server's change reaches CoreDNS through its watch, then
	// its cache may hold the old answer for a TTL.
	dnsBound := 5*time.Second + coredns.TTL
	waitDNS(t, coredns, service, dns.TypeA, dnsBound, primary, replica1, replica2)
	waitDNS(t, coredns, "primary."+service, dns.TypeA, dnsBound, primary)
	waitDNS(t, coredns, "replica."+service, dns.TypeA, dnsBound, replica1, replica2)
	// SRV: one record per endpoint name (CoreDNS merges the addresses
	// of one name into one target), each with the named port.
	srv := "_pg._tcp." + service
	waitDNS(t, coredns, srv, dns.TypeSRV, dnsBound, "primary."+service+".:5432", "replica."+service+".:5432")

	// The primary fails its probe: it leaves every answer within the
	// probe bound plus the TTL, and comes back the same way.
	if err := a.StopServing(port); err != nil {
		t.Fatal(err)
	}
	took := waitDNS(t, coredns, service, dns.TypeA, probeLimit+coredns.TTL, replica1, replica2)
	t.Logf("unready endpoint gone from A %s after %v (bound %v)", service, took, probeLimit+coredns.TTL)
	waitDNS(t, coredns, "primary."+service, dns.TypeA, dnsBound)
	waitDNS(t, coredns, srv, dns.TypeSRV, dnsBound, "replica."+service+".:5432")
	if err := a.Serve(port); err != nil {
		t.Fatal(err)
	}
	took = waitDNS(t, coredns, service, dns.TypeA, probeLimit+coredns.TTL, primary, replica1, replica2)
	t.Logf("ready endpoint back in A %s after %v", service, took)
	waitDNS(t, coredns, "primary."+service, dns.TypeA, dnsBound, primary)

	// headless off: a new Service with a cluster IP, which the name
	// answers.
	setHeadless := func(on bool) {
		t.Helper()
		md := e.getMydemo("db")
		md.Spec.Headless = on
		if _, err := e.client.CrddemoV1().Mydemos(e.ns).Update(context.Background(), md, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setHeadless(false)
	var clusterIP string
	e.eventually(converge, "Service db replaced with a cluster IP", func() (bool, string) {
		s, err := e.getService("db")
		if err != nil {
			return false, err.Error()
		}
		clusterIP = s.Spec.ClusterIP
		return s.UID != svc.UID && clusterIP != corev1.ClusterIPNone && clusterIP != "", "clusterIP " + clusterIP
	})
	md := e.waitCondition("db", crddemov1.ConditionReady, metav1.ConditionTrue, "Ready", converge)
	e.eventually(converge, "status.clusterIP "+clusterIP, func() (bool, string) {
		md = e.getMydemo("db")
		return md.Status.ClusterIP == clusterIP, md.Status.ClusterIP
	})
	waitDNS(t, coredns, service, dns.TypeA, dnsBound, clusterIP)

	setHeadless(true)
	e.eventually(converge, "Service db headless again", func() (bool, string) {
		s, err := e.getService("db")
		if err != nil {
			return false, err.Error()
		}
		return s.Spec.ClusterIP == corev1.ClusterIPNone, "clusterIP " + s.Spec.ClusterIP
	})
	waitDNS(t, coredns, service, dns.TypeA, dnsBound, primary, replica1, replica2)
}

// TestHeadlessDualStackDNS: a headless Mydemo with endpoints of both
// families answers A with the IPv4 ones and AAAA with the IPv6 ones, on
// this IPv4-only cluster too (a headless Service needs no cluster IP of
// either family). Probing is off: nothing is sent to these addresses.
func TestHeadlessDualStackDNS(t *testing.T) {
	t.Parallel()
	coredns := startCoreDNS(t)
	e := newEnv(t)
	e.startController()
	e.createMydemo("dual", crddemov1.MydemoSpec{
		Headless:  true,
		Endpoints: []crddemov1.Endpoint{{IP: "10.251.24.1", Name: "m-0"}, {IP: "2001:db8:24::1", Name: "m-1"}},
		Port:      5432,
		Probe:     &crddemov1.Probe{Type: crddemov1.ProbeTypeNone},
	})
	md := e.waitEndpointsReady("dual", "2/2", converge)
	if c := meta.FindStatusCondition(md.Status.Conditions, crddemov1.ConditionPublished); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Published %+v", c)
	}
	service := "dual." + e.ns + ".svc." + framework.ClusterDomain
	bound := 5*time.Second + coredns.TTL
	waitDNS(t, coredns, service, dns.TypeA, bound, "10.251.24.1")
	waitDNS(t, coredns, service, dns.TypeAAAA, bound, "2001:db8:24::1")
	waitDNS(t, coredns, "m-1."+service, dns.TypeAAAA, bound, "2001:db8:24::1")
}

// TestZoneHintsOnAPIServer: with trafficDistribution the Service carries
// it and, while every ready endpoint has a zone, each slice entry is
// hinted for its own zone (ZoneHints True); an endpoint without a zone
// takes every hint away and the condition names it. Probing is off.
func TestZoneHintsOnAPIServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startController()
	e.createMydemo("db", crddemov1.MydemoSpec{
		TrafficDistribution: ptr.To(corev1.ServiceTrafficDistributionPreferSameZone),
		Endpoints:           []crddemov1.Endpoint{{IP: "10.251.25.1", Zone: "zone-a"}, {IP: "10.251.25.2", Zone: "zone-b"}},
		Port:                5432,
		Probe:               &crddemov1.Probe{Type: crddemov1.ProbeTypeNone},
	})
	e.waitCondition("db", crddemov1.ConditionZoneHints, metav1.ConditionTrue, "HintsWritten", converge)
	svc, err := e.getService("db")
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(svc.Spec.TrafficDistribution, "") != corev1.ServiceTrafficDistributionPreferSameZone {
		t.Errorf("Service trafficDistribution %v, want PreferSameZone", svc.Spec.TrafficDistribution)
	}
	hints := func() map[string]string {
		s, err := e.getSlice("db-ipv4")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, ep := range s.Endpoints {
			var zones []string
			if ep.Hints != nil {
				for _, z := range ep.Hints.ForZones {
					zones = append(zones, z.Name)
				}
			}
			out[ep.Addresses[0]] = strings.Join(zones, ",")
		}
		return out
	}
	if got := hints(); got["10.251.25.1"] != "zone-a" || got["10.251.25.2"] != "zone-b" {
		t.Errorf("hints %v, want each endpoint hinted for its zone", got)
	}

	md := e.getMydemo("db")
	md.Spec.Endpoints = append(md.Spec.Endpoints, crddemov1.Endpoint{IP: "10.251.25.3", Name: "nozone"})
	if _, err := e.client.CrddemoV1().Mydemos(e.ns).Update(context.Background(), md, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	md = e.waitCondition("db", crddemov1.ConditionZoneHints, metav1.ConditionFalse, "EndpointsWithoutZone", converge)
	if c := meta.FindStatusCondition(md.Status.Conditions, crddemov1.ConditionZoneHints); !strings.Contains(c.Message, "10.251.25.3 (nozone)") {
		t.Errorf("ZoneHints message %q does not name the endpoint without a zone", c.Message)
	}
	e.eventually(converge, "no hints at all", func() (bool, string) {
		got := hints()
		for _, z := range got {
			if z != "" {
				return false, fmt.Sprintf("hints %v", got)
			}
		}
		return len(got) == 3, "endpoints"
	})
}

// TestNamesAndZonesAdmission: the API rejects two endpoints of one name, a
// name that is not a DNS label, a zone that is not a label value and an
// unknown trafficDistribution, each naming the field, and accepts both
// spellings of zone preference.
func TestNamesAndZonesAdmission(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	create := func(name string, mutate func(*crddemov1.MydemoSpec)) error {
		spec := crddemov1.MydemoSpec{
			Endpoints: []crddemov1.Endpoint{{IP: "10.251.26.1", Name: "m-0"}, {IP: "10.251.26.2", Name: "m-1"}},
			Port:      5432,
			Probe:     &crddemov1.Probe{Type: crddemov1.ProbeTypeNone},
		}
		mutate(&spec)
		_, err := e.client.CrddemoV1().Mydemos(e.ns).Create(context.Background(), &crddemov1.Mydemo{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{})
		return err
	}
	for _, tc := range []struct {
		name   string
		mutate func(*crddemov1.MydemoSpec)
		// wantErr holds the texts the rejection must contain; nil:
		// accepted.
		wantErr []string
	}{
		{"dup", func(s *crddemov1.MydemoSpec) { s.Endpoints[1].Name = "m-0" }, []string{"spec.endpoints", "same name"}},
		{"not-label", func(s *crddemov1.MydemoSpec) { s.Endpoints[0].Name = "M_0" }, []string{"spec.endpoints[0].name", "DNS label"}},
		{"dotted", func(s *crddemov1.MydemoSpec) { s.Endpoints[0].Name = "m.0" }, []string{"spec.endpoints[0].name"}},
		{"too-long", func(s *crddemov1.MydemoSpec) { s.Endpoints[0].Name = strings.Repeat("m", 64) }, []string{"spec.endpoints[0].name"}},
		{"bad-distribution", func(s *crddemov1.MydemoSpec) { s.TrafficDistribution = ptr.To("PreferSameNode") }, []string{"spec.trafficDistribution"}},
		// A zone must be a label value: the API server refuses any other
		// in a zone hint, which would fail the whole slice write.
		{"zone-space", func(s *crddemov1.MydemoSpec) { s.Endpoints[0].Zone = "zone a" }, []string{"spec.endpoints[0].zone", "label value"}},
		{"zone-slash", func(s *crddemov1.MydemoSpec) { s.Endpoints[1].Zone = "eu/west" }, []string{"spec.endpoints[1].zone", "label value"}},
		{"zone-dash", func(s *crddemov1.MydemoSpec) { s.Endpoints[0].Zone = "a-" }, []string{"spec.endpoints[0].zone"}},
		{"zone-label", func(s *crddemov1.MydemoSpec) { s.Endpoints[0].Zone, s.Endpoints[1].Zone = "eu-west-1a", "Zone_B.2" }, nil},
		{"same-zone", func(s *crddemov1.MydemoSpec) {
			s.TrafficDistribution = ptr.To(corev1.ServiceTrafficDistributionPreferSameZone)
		}, nil},
		{"close", func(s *crddemov1.MydemoSpec) {
			s.TrafficDistribution = ptr.To(corev1.ServiceTrafficDistributionPreferClose)
		}, nil},
		{"unnamed-twice", func(s *crddemov1.MydemoSpec) { s.Endpoints[0].Name, s.Endpoints[1].Name = "", "" }, nil},
		{"headless", func(s *crddemov1.MydemoSpec) { s.Headless = true }, nil},
	} {
		err := create(tc.name, tc.mutate)
		switch {
		case tc.wantErr == nil && err != nil:
			t.Errorf("%s: rejected: %v", tc.name, err)
		case tc.wantErr != nil && err == nil:
			t.Errorf("%s: accepted, want rejected", tc.name)
		case tc.wantErr != nil:
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %v\n  does not say %q", tc.name, err, want)
				}
			}
		}
	}
}
