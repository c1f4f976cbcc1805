package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/test/framework"
)

// TestE2E runs the end-to-end tests in a fixed order: deploy/ first, since
// the others run as its ServiceAccount; the start-up failures next, as one
// of them deletes the CRD for a moment; the API server restart last, as it
// interrupts everybody. Subtests never run in parallel.
func TestE2E(t *testing.T) {
	s := newSuite(t)
	if !t.Run("Deploy", s.testDeploy) {
		t.Fatal("deploy/ did not apply; the other tests need its ServiceAccount and RBAC")
	}
	t.Run("StartupFailures", func(t *testing.T) {
		t.Run("CRDNotInstalled", s.testCRDNotInstalled)
		t.Run("MissingPermissions", s.testMissingPermissions)
		t.Run("APIServerUnreachable", s.testAPIServerUnreachable)
	})
	t.Run("LeastPrivilege", s.testLeastPrivilege)
	t.Run("LeaderElection", s.testLeaderElection)
	t.Run("APIServerRestart", s.testAPIServerRestart)
}

// testDeploy: `kubectl apply -k deploy/` applies cleanly, server-side
// validation included, and is idempotent; the Deployment's Pod template
// meets the restricted Pod Security Standard (the namespace warns
// otherwise). No Pod ever starts: no scheduler or kubelet runs.
func (s *suite) testDeploy(t *testing.T) {
	deploy := filepath.Join(s.root, "deploy")

	// A server-side dry run of namespaced objects needs their namespace:
	// on an empty cluster it fails with "namespaces ... not found" until
	// the namespace exists. So create the namespace alone first (as
	// deploy/README.md says to, for a dry run), then dry-run everything,
	// then apply for real.
	s.mustKubectl(t, "apply", "-f", filepath.Join(deploy, "namespace.yaml"))
	dry, stderr := s.mustKubectl(t, "apply", "-k", deploy, "--dry-run=server")
	t.Logf("kubectl apply -k deploy/ --dry-run=server:\n%s", dry)
	if strings.Contains(stderr, "PodSecurity") {
		t.Errorf("the Deployment's Pod template violates the restricted Pod Security Standard:\n%s", stderr)
	}

	out, stderr := s.mustKubectl(t, "apply", "-k", deploy)
	t.Logf("kubectl apply -k deploy/:\n%s", out)
	if strings.Contains(stderr, "PodSecurity") {
		t.Errorf("the Deployment's Pod template violates the restricted Pod Security Standard:\n%s", stderr)
	}
	for _, want := range []string{
		"namespace/crddemo-system",
		"customresourcedefinition.apiextensions.k8s.io/mydemos.crddemo.k8s.io",
		"serviceaccount/mydemo-controller",
		"role.rbac.authorization.k8s.io/mydemo-controller-leader-election",
		"clusterrole.rbac.authorization.k8s.io/mydemo-controller",
		"rolebinding.rbac.authorization.k8s.io/mydemo-controller-leader-election",
		"clusterrolebinding.rbac.authorization.k8s.io/mydemo-controller",
		"service/mydemo-controller-metrics",
		"deployment.apps/mydemo-controller",
		"poddisruptionbudget.policy/mydemo-controller",
		"customresourcedefinition.apiextensions.k8s.io/addresspolicies.crddemo.k8s.io",
		"clusterrole.rbac.authorization.k8s.io/mydemo-view",
		"clusterrole.rbac.authorization.k8s.io/mydemo-edit",
		"clusterrole.rbac.authorization.k8s.io/mydemo-policy-admin",
		"validatingadmissionpolicy.admissionregistration.k8s.io/mydemo-address-policy",
		"validatingadmissionpolicy.admissionregistration.k8s.io/mydemo-service-cidrs",
		"validatingadmissionpolicy.admissionregistration.k8s.io/mydemo-metadata-addresses",
		"validatingadmissionpolicy.admissionregistration.k8s.io/mydemo-controller-restraint",
		"validatingadmissionpolicy.admissionregistration.k8s.io/mydemo-children-guard",
	} {
		if !strings.Contains(out, want+" ") {
			t.Errorf("kubectl apply -k deploy/ did not apply %s", want)
		}
	}
	// Applying again is a no-op: the API server stores every object as
	// deploy/ has it, with nothing defaulted or rewritten that the next
	// apply would fight over, so no resourceVersion changes.
	versions := func() string {
		out, _ := s.mustKubectl(t, "get", "-k", deploy, "-o",
			`jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}`)
		return out
	}
	before := versions()
	rendered, _ := s.mustKubectl(t, "kustomize", deploy)
	want := strings.Count("\n"+rendered, "\nkind: ")
	if n := strings.Count(before, "="); n != want || want < 24 {
		t.Errorf("kubectl get -k deploy/ found %d objects, want the %d of kubectl kustomize deploy/:\n%s", n, want, before)
	}
	s.mustKubectl(t, "apply", "-k", deploy)
	if after := versions(); after != before {
		t.Errorf("applying deploy/ a second time changed objects:\nbefore:\n%safter:\n%s", before, after)
	}

	dep, err := s.kube.AppsV1().Deployments(systemNamespace).Get(context.Background(), "mydemo-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := dep.Spec.Replicas; r == nil || *r != 2 {
		t.Errorf("Deployment replicas = %v, want 2", r)
	}
	if g := dep.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 35 {
		t.Errorf("terminationGracePeriodSeconds = %v, want at least the 30s sync timeout plus the 5s server shutdown", g)
	}
	s.waitCRDEstablished(t)

	// The other tests run as the ServiceAccount deploy/ created.
	cfg, err := s.cp.ServiceAccountConfig(context.Background(), systemNamespace, serviceAccount)
	if err != nil {
		t.Fatal(err)
	}
	s.saConfig = cfg
	s.saKubeconfig = filepath.Join(s.dir, "mydemo-controller.kubeconfig")
	if err := s.cp.WriteKubeconfig(s.saKubeconfig, cfg); err != nil {
		t.Fatal(err)
	}
}

// testCRDNotInstalled: without the CRD the binary exits at once, non-zero,
// saying so and how to install it; the install hint works.
func (s *suite) testCRDNotInstalled(t *testing.T) {
	ctx := context.Background()
	crds := s.apiext.ApiextensionsV1().CustomResourceDefinitions()
	if err := crds.Delete(ctx, crdName, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete CRD: %v", err)
	}
	// The group stays discoverable while any of its CRDs exists.
	if err := crds.Delete(ctx, "addresspolicies."+crddemov1.SchemeGroupVersion.Group, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete CRD: %v", err)
	}
	// Reinstall whatever happens, as the hint says, so the later tests
	// have their CRD back.
	t.Cleanup(func() {
		if _, _, err := s.kubectl(t, "apply", "-k", filepath.Join(s.root, "deploy")); err != nil {
			t.Errorf("reinstall the CRD: %v", err)
			return
		}
		s.waitCRDEstablished(t)
	})
	disco := discovery.NewDiscoveryClientForConfigOrDie(s.cp.Config)
	framework.Eventually(t, 30*time.Second, "the CRD gone from the API", func() (bool, string) {
		if _, err := crds.Get(ctx, crdName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("CRD still there (%v)", err)
		}
		if _, err := disco.ServerResourcesForGroupVersion(crddemov1.SchemeGroupVersion.String()); !apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("%s still discoverable (%v)", crddemov1.SchemeGroupVersion, err)
		}
		return true, ""
	})

	p := s.startController(t, "no-crd")
	code := p.waitExit(t, startupFailure)
	elapsed := time.Since(p.Started())
	stderr := p.Output()
	t.Logf("exit code %d after %s: %s", code, elapsed.Round(time.Millisecond), failureLine(stderr))
	if code == 0 {
		t.Errorf("exit code 0 without the CRD")
	}
	for _, want := range []string{
		"the Mydemo CRD (mydemos.crddemo.k8s.io) is not installed",
		"kubectl apply -f crd/ (or kubectl apply -k deploy/)",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
}

// testMissingPermissions: an identity without the controller's RBAC makes
// the binary exit non-zero, naming what it may not do.
func (s *suite) testMissingPermissions(t *testing.T) {
	ns := framework.CreateNamespace(t, s.kube)
	cfg, err := s.cp.ServiceAccountConfig(context.Background(), ns, "unbound")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "unbound.kubeconfig")
	if err := s.cp.WriteKubeconfig(kubeconfig, cfg); err != nil {
		t.Fatal(err)
	}

	p := s.startController(t, "unbound", "--kubeconfig="+kubeconfig)
	code := p.waitExit(t, startupFailure)
	stderr := p.Output()
	t.Logf("exit code %d after %s: %s", code, time.Since(p.Started()).Round(time.Millisecond), failureLine(stderr))
	if code == 0 {
		t.Errorf("exit code 0 without permissions")
	}
	for _, want := range []string{
		"missing RBAC permissions",
		"cannot list mydemos.crddemo.k8s.io in all namespaces",
		"cannot update mydemos/status.crddemo.k8s.io",
		"cannot create services",
		"cannot create endpointslices.discovery.k8s.io",
		"cannot create events",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
}

// testAPIServerUnreachable: a wrong API server address is a quick,
// non-zero exit that says the server is unreachable, not a hang.
func (s *suite) testAPIServerUnreachable(t *testing.T) {
	ports, err := framework.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://127.0.0.1:" + strconv.Itoa(ports[0])
	p := s.startController(t, "unreachable", "--master="+closed)
	code := p.waitExit(t, startupFailure)
	elapsed := time.Since(p.Started())
	stderr := p.Output()
	t.Logf("exit code %d after %s: %s", code, elapsed.Round(time.Millisecond), failureLine(stderr))
	if code == 0 {
		t.Errorf("exit code 0 with an unreachable API server")
	}
	if elapsed > 5*time.Second {
		t.Errorf("took %s to give up on a refused connection", elapsed)
	}
	for _, want := range []string{"unreachable", closed} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
}

// failureLine is the line of the binary's log that says why it failed.
func failureLine(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "mydemo-controller failed") {
			return line
		}
	}
	return "(no failure logged)"
}

// rule is one permission as a comparable string:
// group/resource[/subresource][:name] verb.
type rule string

func newRule(group, resource, name, verb string) rule {
	r := group + "/" + resource
	if name != "" {
		r += ":" + name
	}
	return rule(r + " " + verb)
}

// grantedRules expands what the identity of cfg may do in namespace ns.
func grantedRules(t *testing.T, cfg *rest.Config, ns string) map[rule]bool {
	t.Helper()
	review, err := kubernetes.NewForConfigOrDie(cfg).AuthorizationV1().SelfSubjectRulesReviews().Create(context.Background(),
		&authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("rules review in %s: %v", ns, err)
	}
	if review.Status.Incomplete {
		t.Fatalf("rules review in %s is incomplete: %s", ns, review.Status.EvaluationError)
	}
	got := map[rule]bool{}
	for _, r := range review.Status.ResourceRules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					for _, n := range names {
						got[newRule(g, res, n, v)] = true
					}
				}
			}
		}
	}
	return got
}

// addedRules is what the ServiceAccount of deploy/ may do in namespace ns
// beyond what any ServiceAccount may (baseline: one without bindings), that
// is, what deploy/ grants.
func (s *suite) addedRules(t *testing.T, baseline *rest.Config, ns string) []rule {
	t.Helper()
	base := grantedRules(t, baseline, ns)
	var added []rule
	for r := range grantedRules(t, s.saConfig, ns) {
		if !base[r] {
			added = append(added, r)
		}
	}
	return sortedRules(added)
}

// clusterRules is exactly what the controller does in every namespace.
func clusterRules() []rule {
	var rules []rule
	add := func(group, resource string, verbs ...string) {
		for _, v := range verbs {
			rules = append(rules, newRule(group, resource, "", v))
		}
	}
	add("crddemo.k8s.io", "mydemos", "list", "watch")
	add("crddemo.k8s.io", "mydemos/status", "update")
	add("crddemo.k8s.io", "mydemos/finalizers", "update")
	add("", "services", "get", "list", "watch", "create", "update", "delete")
	add("discovery.k8s.io", "endpointslices", "get", "list", "watch", "create", "update", "delete")
	add("", "events", "create", "patch")
	// The address policy's inputs (cluster-scoped; a rules review in any
	// namespace lists them).
	add("", "nodes", "list", "watch")
	add("", "namespaces", "list", "watch")
	add("networking.k8s.io", "servicecidrs", "list", "watch")
	add("crddemo.k8s.io", "addresspolicies", "list", "watch")
	return rules
}

func sortedRules(rules []rule) []rule {
	out := append([]rule(nil), rules...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func equalRules(a, b []rule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testLeastPrivilege: the ServiceAccount may do exactly what the controller
// needs and no more (no Secrets, in particular), and with just that the
// binary starts, reconciles a Mydemo, records an Event and serves its
// health checks and metrics.
func (s *suite) testLeastPrivilege(t *testing.T) {
	ctx := context.Background()
	sa := kubernetes.NewForConfigOrDie(s.saConfig)
	if _, err := sa.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the ServiceAccount listing Secrets in all namespaces: got %v, want Forbidden", err)
	}
	if _, err := sa.CoreV1().Secrets(systemNamespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the ServiceAccount listing Secrets in %s: got %v, want Forbidden", systemNamespace, err)
	}
	if _, err := sa.CoreV1().Secrets(systemNamespace).Get(ctx, "any", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the ServiceAccount getting a Secret: got %v, want Forbidden", err)
	}

	// What deploy/ grants, exactly: nothing more than the controller
	// uses (checked here), and nothing less (else the controller below
	// would not start).
	ns := framework.CreateNamespace(t, s.kube)
	baseline, err := s.cp.ServiceAccountConfig(ctx, ns, "baseline")
	if err != nil {
		t.Fatal(err)
	}
	want := sortedRules(clusterRules())
	if got := s.addedRules(t, baseline, ns); !equalRules(got, want) {
		t.Errorf("the ServiceAccount's permissions in namespace %s:\n  got  %v\n  want %v", ns, got, want)
	}
	// The Leases: sharding's membership verbs on any Lease of the
	// namespace, and leader election's get of its own (the controller
	// below runs with leader election).
	want = sortedRules(append(clusterRules(),
		newRule("coordination.k8s.io", "leases", "", "create"),
		newRule("coordination.k8s.io", "leases", "", "list"),
		newRule("coordination.k8s.io", "leases", "", "watch"),
		newRule("coordination.k8s.io", "leases", "", "update"),
		newRule("coordination.k8s.io", "leases", "", "delete"),
		newRule("coordination.k8s.io", "leases", leaseName, "get"),
	))
	if got := s.addedRules(t, baseline, systemNamespace); !equalRules(got, want) {
		t.Errorf("the ServiceAccount's permissions in namespace %s:\n  got  %v\n  want %v", systemNamespace, got, want)
	}

	s.freshLease(t)
	p := s.startController(t, "least-privilege", fastLeaderElection()...)
	p.waitHealthy(t, "/healthz", converge)
	p.waitHealthy(t, "/readyz", converge)

	s.createMydemo(t, ns, "web", unprobed("10.251.200.1", 8080))
	s.waitPublished(t, ns, "web", converge)
	s.expectOneChildEach(t, ns, "web")
	framework.Eventually(t, converge, "a Published Event about web", func() (bool, string) {
		events, err := s.kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web,reason=Published"})
		if err != nil {
			return false, err.Error()
		}
		for _, ev := range events.Items {
			if ev.Source.Component == "mydemo-controller" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d matching Events", len(events.Items))
	})

	// Without --profiling the metrics address serves no pprof handler.
	if code, _, err := p.get("/debug/pprof/"); err != nil || code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without --profiling: %d %v, want 404", code, err)
	}

	page := p.scrape(t)
	for _, want := range []string{
		`workqueue_adds_total{name="mydemo-controller"}`,
		"rest_client_requests_total",
		`leader_election_master_status{name="mydemo-controller"}`,
		"crddemo_syncs_total",
		"crddemo_mydemos",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if v, ok := metricValue(page, "leader_election_master_status", map[string]string{"name": "mydemo-controller"}); !ok || v != 1 {
		t.Errorf("leader_election_master_status of the only replica = %v (found %v), want 1", v, ok)
	}
	if v, ok := metricValue(page, "crddemo_syncs_total", map[string]string{"result": "success"}); !ok || v < 1 {
		t.Errorf(`crddemo_syncs_total{result="success"} = %v (found %v), want at least 1`, v, ok)
	}
	if v, ok := metricValue(page, "crddemo_mydemos", map[string]string{"condition": "Published", "status": "True"}); !ok || v < 1 {
		t.Errorf(`crddemo_mydemos{condition="Published",status="True"} = %v (found %v), want at least 1`, v, ok)
	}
	if !p.Running() {
		t.Fatalf("the controller exited: %v", p.ExitErr())
	}
}

// waitOneLeader waits until exactly one of procs has become the leader and
// holds the Lease, and the others stand by for it; it returns the leader,
// its identity and the others.
func (s *suite) waitOneLeader(t *testing.T, timeout time.Duration, procs ...*controllerProcess) (*controllerProcess, string, []*controllerProcess) {
	t.Helper()
	var leader *controllerProcess
	var id string
	var standby []*controllerProcess
	framework.Eventually(t, timeout, "one leader", func() (bool, string) {
		leader, id, standby = nil, "", nil
		holder := s.leaseHolder(t)
		for _, p := range procs {
			if !p.Running() {
				t.Fatalf("%s exited: %v", p.Name(), p.ExitErr())
			}
			if pid := p.leaderIdentity(); pid != "" && pid == holder {
				if leader != nil {
					t.Fatalf("both %s and %s lead as %s", leader.Name(), p.Name(), holder)
				}
				leader, id = p, pid
			} else {
				standby = append(standby, p)
			}
		}
		if leader == nil {
			return false, fmt.Sprintf("Lease held by %q, which no running replica logged as its own", holder)
		}
		for _, p := range standby {
			if p.leaderIdentity() == id {
				t.Fatalf("%s and %s share the identity %s", leader.Name(), p.Name(), id)
			}
			if got := p.standingBehind(); got != id {
				return false, fmt.Sprintf("%s stands by for %q, not %q", p.Name(), got, id)
			}
		}
		return true, ""
	})
	return leader, id, standby
}

// expectLeaderMetric checks leader_election_master_status of a replica.
func expectLeaderMetric(t *testing.T, p *controllerProcess, want float64) {
	t.Helper()
	series := `leader_election_master_status{name="mydemo-controller"}`
	framework.Eventually(t, 5*time.Second, fmt.Sprintf("%s reporting %s %g", p.Name(), series, want), func() (bool, string) {
		v, ok := metricValue(p.scrape(t), "leader_election_master_status", map[string]string{"name": "mydemo-controller"})
		return ok && v == want, fmt.Sprintf("%v (found %v)", v, ok)
	})
}

// testLeaderElection: of two replicas exactly one leads. Killed with
// SIGKILL, the leader cannot release its Lease and the standby takes over
// once the lease duration has passed, then reconciles what was created in
// the meantime, without duplicating anything. Stopped with SIGTERM, the
// leader finishes, releases the Lease and exits 0, and a standby takes over
// at once.
func (s *suite) testLeaderElection(t *testing.T) {
	s.freshLease(t)
	ns := framework.CreateNamespace(t, s.kube)

	a := s.startController(t, "replica-a", fastLeaderElection()...)
	b := s.startController(t, "replica-b", fastLeaderElection()...)
	leader, leaderID, standby := s.waitOneLeader(t, converge, a, b)
	other := standby[0]
	t.Logf("%s leads as %s; %s stands by", leader.Name(), leaderID, other.Name())
	expectLeaderMetric(t, leader, 1)
	expectLeaderMetric(t, other, 0)
	// Both are healthy and ready: a standby waits as it should.
	for _, p := range []*controllerProcess{leader, other} {
		p.waitHealthy(t, "/healthz", converge)
		p.waitHealthy(t, "/readyz", converge)
	}
	s.createMydemo(t, ns, "before", unprobed("10.251.200.10", 8080))
	s.waitPublished(t, ns, "before", converge)

	// SIGKILL: the Lease stays held until it expires.
	leader.signal(t, syscall.SIGKILL)
	killed := time.Now()
	s.createMydemo(t, ns, "meanwhile", unprobed("10.251.200.11", 8080))
	if code := leader.waitExit(t, 5*time.Second); code != -1 {
		t.Errorf("%s exit code after SIGKILL = %d, want -1 (killed)", leader.Name(), code)
	}
	newLeader, newID, _ := s.waitOneLeader(t, testLeaseDuration+10*time.Second, other)
	takeover := time.Since(killed)
	t.Logf("takeover after SIGKILL: %s (lease duration %s)", takeover.Round(time.Millisecond), testLeaseDuration)
	if limit := testLeaseDuration + 4*time.Second; takeover > limit {
		t.Errorf("takeover after SIGKILL took %s, want at most the lease duration plus slack (%s)", takeover, limit)
	}
	if newID == leaderID {
		t.Fatalf("the Lease is still held by the killed replica %s", leaderID)
	}
	s.waitPublished(t, ns, "meanwhile", converge)
	s.waitPublished(t, ns, "before", converge)
	s.expectOneChildEach(t, ns, "before")
	s.expectOneChildEach(t, ns, "meanwhile")
	expectLeaderMetric(t, newLeader, 1)

	// A third replica stands by; SIGTERM to the leader hands over at once.
	c := s.startController(t, "replica-c", fastLeaderElection()...)
	framework.Eventually(t, converge, c.Name()+" standing by for "+newID, func() (bool, string) {
		if !c.Running() {
			t.Fatalf("%s exited: %v", c.Name(), c.ExitErr())
		}
		got := c.standingBehind()
		return got == newID, fmt.Sprintf("stands by for %q", got)
	})
	newLeader.signal(t, syscall.SIGTERM)
	terminated := time.Now()
	third, thirdID, _ := s.waitOneLeader(t, testLeaseDuration+10*time.Second, c)
	handover := time.Since(terminated)
	t.Logf("takeover after SIGTERM: %s (lease duration %s)", handover.Round(time.Millisecond), testLeaseDuration)
	// Had the Lease not been released, the standby would have had to wait
	// for it to expire: at least the lease duration after the last renewal,
	// which was at most a retry period (plus jitter) before the SIGTERM.
	if limit := testLeaseDuration - 3*testRetryPeriod; handover > limit {
		t.Errorf("takeover after SIGTERM took %s, want well under the lease duration (at most %s): was the Lease released?", handover, limit)
	}
	if code := newLeader.waitExit(t, 15*time.Second); code != 0 {
		t.Errorf("%s exit code after SIGTERM = %d, want 0", newLeader.Name(), code)
	}
	if log := newLeader.Output(); !strings.Contains(log, "Shut down cleanly") {
		t.Errorf("%s did not log a clean shutdown", newLeader.Name())
	}
	if thirdID == newID || third != c {
		t.Fatalf("unexpected leader %s (%s) after SIGTERM", third.Name(), thirdID)
	}

	s.createMydemo(t, ns, "after", unprobed("10.251.200.12", 8080))
	s.waitPublished(t, ns, "after", converge)
	for _, name := range []string{"before", "meanwhile", "after"} {
		s.expectOneChildEach(t, ns, name)
	}
	expectLeaderMetric(t, c, 1)
}

// testAPIServerRestart: the controller rides out a kube-apiserver restart
// and converges on a change made after it.
func (s *suite) testAPIServerRestart(t *testing.T) {
	s.freshLease(t)
	ns := framework.CreateNamespace(t, s.kube)
	// A renew deadline longer than the outage: the leader keeps leading
	// instead of giving up the Lease and exiting (which, in a Deployment,
	// a restart of the Pod would also repair).
	p := s.startController(t, "restart", "--profiling",
		"--leader-elect-lease-duration=40s", "--leader-elect-renew-deadline=30s", "--leader-elect-retry-period=1s")
	p.waitHealthy(t, "/readyz", converge)
	// --profiling serves pprof on the metrics address.
	if code, body, err := p.get("/debug/pprof/cmdline"); err != nil || code != http.StatusOK || !strings.Contains(body, "--profiling") {
		t.Errorf("GET /debug/pprof/cmdline with --profiling: %d %v %q, want 200 and the command line", code, err, body)
	}
	s.createMydemo(t, ns, "web", unprobed("10.251.200.20", 8080))
	s.waitPublished(t, ns, "web", converge)
	holder := s.leaseHolder(t)

	down := time.Now()
	if err := s.cp.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	stopped := true
	t.Cleanup(func() {
		if stopped {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := s.cp.StartAPIServer(ctx); err != nil {
				t.Errorf("start kube-apiserver again: %v", err)
			}
		}
	})
	// Long enough for the controller's watches to break and its first
	// reconnection attempts to fail.
	time.Sleep(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.cp.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	stopped = false
	up := time.Now()
	t.Logf("kube-apiserver was down for %s", up.Sub(down).Round(time.Millisecond))

	s.setPort(t, ns, "web", 9090)
	s.waitPublished(t, ns, "web", 60*time.Second)
	t.Logf("converged %s after kube-apiserver was ready again", time.Since(up).Round(time.Millisecond))
	s.expectOneChildEach(t, ns, "web")
	if !p.Running() {
		t.Fatalf("the controller exited during the outage: %v", p.ExitErr())
	}
	if got := s.leaseHolder(t); got != holder {
		t.Errorf("Lease holder changed from %s to %s", holder, got)
	}
	p.waitHealthy(t, "/healthz", 10*time.Second)
}
