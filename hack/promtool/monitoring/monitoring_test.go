// Package monitoring checks the alert rules and the Grafana dashboard in
// deploy/monitoring with Prometheus' own rule-file and PromQL parsers:
// every query parses, and names only metrics the controller exports
// (deploy/monitoring/metric-names.txt, which pkg/metrics checks against
// the controller's registry). It also keeps the chart's copies identical.
// It lives in the promtool module, which already pins Prometheus, so that
// the product module does not require it.
package monitoring

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

const (
	monitoringDir = "../../../deploy/monitoring"
	chartFilesDir = "../../../charts/mydemo-controller/files"
)

// prometheusSeries are series Prometheus itself makes, which no exporter
// lists.
var prometheusSeries = []string{"up", "ALERTS", "ALERTS_FOR_STATE"}

// grafanaVariables stand in for the dashboard's variables, so that a
// query parses as Grafana sends it.
var grafanaVariables = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$namespace", "shop",
	"$mydemo", "api",
)

// labelValues is Grafana's label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

func promqlParser() parser.Parser {
	return parser.NewParser(parser.Options{})
}

// exportedNames reads metric-names.txt.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(monitoringDir, "metric-names.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	for _, n := range prometheusSeries {
		names[n] = true
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if n := strings.TrimSpace(sc.Text()); n != "" && !strings.HasPrefix(n, "#") {
			names[n] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// selectors parses query with the PromQL parser and returns the series
// selectors in it.
func selectors(query string) ([]*parser.VectorSelector, error) {
	expr, err := promqlParser().ParseExpr(query)
	if err != nil {
		return nil, fmt.Errorf("does not parse: %w", err)
	}
	var out []*parser.VectorSelector
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out, nil
}

// checkQuery returns an error when query does not parse, selects series
// without naming their metric, or names a metric not in exported.
func checkQuery(query string, exported map[string]bool) error {
	vss, err := selectors(query)
	if err != nil {
		return err
	}
	var problems []string
	for _, vs := range vss {
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		switch {
		case name == "":
			problems = append(problems, fmt.Sprintf("%s names no metric", vs))
		case !exported[name]:
			problems = append(problems, fmt.Sprintf("%s is not a metric the controller exports (deploy/monitoring/metric-names.txt)", name))
		}
	}
	if problems != nil {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// controllerJob is the scrape job the rules and the dashboard expect
// (README.md "Monitoring").
const controllerJob = "mydemo-controller-metrics"

// checkScoped returns an error when query selects a metric that other
// programs export too (client-go's rest_client_*, workqueue_* and
// leader_election_*, which every controller and Kubernetes component
// has) without restricting it to controllerJob: such a panel or rule
// would add up the whole cluster's. The crddemo_ metrics, and
// Prometheus' own series, are the controller's alone.
func checkScoped(query string) error {
	vss, err := selectors(query)
	if err != nil {
		return err
	}
	var problems []string
	for _, vs := range vss {
		if strings.HasPrefix(vs.Name, "crddemo_") || slices.Contains(prometheusSeries, vs.Name) {
			continue
		}
		if !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
			return m.Name == "job" && m.Type == labels.MatchEqual && m.Value == controllerJob
		}) {
			problems = append(problems, fmt.Sprintf("%s is exported by other programs too: select job=%q", vs, controllerJob))
		}
	}
	if problems != nil {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// TestCheckScoped: the check itself rejects what it is there to reject.
func TestCheckScoped(t *testing.T) {
	for query, ok := range map[string]bool{
		`sum(rate(crddemo_probes_total[5m]))`:                                        true,
		`sum(rate(rest_client_requests_total[5m]))`:                                  false,
		`sum(rate(rest_client_requests_total{job="mydemo-controller-metrics"}[5m]))`: true,
		`workqueue_depth{name="mydemo-controller"}`:                                  false,
		`absent(up{job="mydemo-controller-metrics"} == 1)`:                           true,
	} {
		if err := checkScoped(query); (err == nil) != ok {
			t.Errorf("%s: got %v, want ok=%v", query, err, ok)
		}
	}
}

// TestCheckQuery: the check itself rejects what it is there to reject.
func TestCheckQuery(t *testing.T) {
	exported := map[string]bool{"crddemo_probes_total": true}
	for query, ok := range map[string]bool{
		`sum by (result) (rate(crddemo_probes_total[5m]))`: true,
		`sum by (result) (rate(crddemo_probes_total[5m])`:  false, // unbalanced
		`sum by (result) (rate(crddemo_probe_total[5m]))`:  false, // a name the controller does not export
		`{__name__="crddemo_probes_total"}`:                true,
		`{__name__=~"crddemo_.*"}`:                         false, // no single name
		`crddemo_probes_total{result="success"} offset 1x`: false,
	} {
		if err := checkQuery(query, exported); (err == nil) != ok {
			t.Errorf("%s: got %v, want ok=%v", query, err, ok)
		}
	}
}

// TestRules parses rules.yaml as Prometheus loads a rule file and checks
// every expression.
func TestRules(t *testing.T) {
	exported := exportedNames(t)
	groups, errs := rulefmt.ParseFile(filepath.Join(monitoringDir, "rules.yaml"), false, model.UTF8Validation, promqlParser())
	if len(errs) > 0 {
		t.Fatalf("rules.yaml: %v", errs)
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if err := checkQuery(r.Expr, exported); err != nil {
				t.Errorf("rule %s: %v", r.Alert, err)
			}
			if err := checkScoped(r.Expr); err != nil {
				t.Errorf("rule %s: %v", r.Alert, err)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %s: wants a severity label and a summary annotation", r.Alert)
			}
		}
	}
	// Every alert has a unit test in rules_test.yaml.
	tests, err := os.ReadFile(filepath.Join(monitoringDir, "rules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if !bytes.Contains(tests, []byte("alertname: "+a+"\n")) {
			t.Errorf("rules_test.yaml has no test of %s", a)
		}
	}
}

// TestDashboard checks every panel's queries and every variable's query,
// and that each row the README describes is there.
func TestDashboard(t *testing.T) {
	exported := exportedNames(t)
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query json.RawMessage
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var rows []string
	queries := 0
	// The metrics the "One Mydemo" row's panels query.
	oneMydemo := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			rows = append(rows, p.Title)
			continue
		}
		if len(rows) > 0 && strings.HasPrefix(rows[len(rows)-1], "One Mydemo") {
			for _, target := range p.Targets {
				for _, n := range metricNames(t, grafanaVariables.Replace(target.Expr)) {
					oneMydemo[n] = true
				}
			}
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			queries++
			if err := checkQuery(grafanaVariables.Replace(target.Expr), exported); err != nil {
				t.Errorf("panel %q: %s: %v", p.Title, target.Expr, err)
			}
			if err := checkScoped(grafanaVariables.Replace(target.Expr)); err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
			}
		}
	}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		if err := checkQuery(grafanaVariables.Replace(m[1]), exported); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
		}
	}
	for _, want := range []string{"Fleet overview", "One Mydemo", "Probe engine", "API writes", "Event queue"} {
		if !slices.ContainsFunc(rows, func(r string) bool { return strings.HasPrefix(r, want) }) {
			t.Errorf("no row %q in %v", want, rows)
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no query")
	}
	// Every per-Mydemo metric (crddemo_mydemo_*) shows in the One Mydemo
	// row, so that nothing an alert says about a Mydemo is missing there.
	for name := range exported {
		if strings.HasPrefix(name, "crddemo_mydemo_") && !oneMydemo[name] {
			t.Errorf("the One Mydemo row shows no panel of %s", name)
		}
	}
}

// metricNames returns the metric names query selects.
func metricNames(t *testing.T, query string) []string {
	t.Helper()
	expr, err := promqlParser().ParseExpr(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var names []string
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// TestChartCopies: the chart cannot read files outside its directory, so
// it carries copies of the rules and the dashboard.
func TestChartCopies(t *testing.T) {
	for _, name := range []string{"rules.yaml", "dashboard.json"} {
		want, err := os.ReadFile(filepath.Join(monitoringDir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartFilesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("charts/mydemo-controller/files/%s differs from deploy/monitoring/%s: copy it there", name, name)
		}
	}
}

// helmTemplate renders the chart with bin/helm (make helm) and returns its
// objects by kind.
func helmTemplate(t *testing.T, args ...string) map[string][]map[string]any {
	t.Helper()
	bin := os.Getenv("CRDDEMO_BIN_DIR")
	if bin == "" {
		t.Fatal("CRDDEMO_BIN_DIR is not set: make test sets it to bin/, where make helm puts helm")
	}
	home := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "helm"), append([]string{"template", "mydemo", "../../../charts/mydemo-controller", "--namespace", "crddemo-system"}, args...)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	objects := map[string][]map[string]any{}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("rendered chart: %v\n%s", err, doc)
		}
		if kind, _ := obj["kind"].(string); kind != "" {
			objects[kind] = append(objects[kind], obj)
		}
	}
	return objects
}

// TestChartMonitoring: off by default; on, the PrometheusRule holds the
// groups of rules.yaml, the ConfigMap the dashboard with the sidecar's
// label, and the ServiceMonitor selects the metrics Service's port.
func TestChartMonitoring(t *testing.T) {
	monitoringKinds := []string{"ServiceMonitor", "PrometheusRule"}
	defaults := helmTemplate(t)
	for _, kind := range monitoringKinds {
		if len(defaults[kind]) != 0 {
			t.Errorf("the default rendering has a %s", kind)
		}
	}
	for _, cm := range defaults["ConfigMap"] {
		if strings.HasSuffix(cm["metadata"].(map[string]any)["name"].(string), "-dashboard") {
			t.Error("the default rendering has the dashboard ConfigMap")
		}
	}

	on := helmTemplate(t, "--set", "monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,monitoring.dashboard.enabled=true")
	for _, kind := range append(monitoringKinds, "Service") {
		if len(on[kind]) != 1 {
			t.Fatalf("%d objects of kind %s, want 1", len(on[kind]), kind)
		}
	}

	rulesFile, err := os.ReadFile(filepath.Join(monitoringDir, "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(rulesFile, &want); err != nil {
		t.Fatal(err)
	}
	spec := on["PrometheusRule"][0]["spec"]
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("PrometheusRule spec differs from rules.yaml:\n%v\n%v", spec, want)
	}
	// And Prometheus accepts the rendered groups as a rule file.
	rendered, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := rulefmt.Parse(rendered, false, model.UTF8Validation, promqlParser()); len(errs) > 0 {
		t.Errorf("rendered PrometheusRule: %v", errs)
	}

	dashboard, err := os.ReadFile(filepath.Join(monitoringDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cm map[string]any
	for _, c := range on["ConfigMap"] {
		if c["metadata"].(map[string]any)["name"] == "mydemo-controller-dashboard" {
			cm = c
		}
	}
	if cm == nil {
		t.Fatal("no ConfigMap mydemo-controller-dashboard")
	}
	if got := cm["metadata"].(map[string]any)["labels"].(map[string]any)["grafana_dashboard"]; got != "1" {
		t.Errorf("dashboard ConfigMap label grafana_dashboard=%v, want \"1\"", got)
	}
	if got := cm["data"].(map[string]any)["mydemo-controller.json"]; got != strings.TrimSuffix(string(dashboard), "\n") {
		t.Error("the dashboard ConfigMap does not hold dashboard.json")
	}

	svc, sm := on["Service"][0], on["ServiceMonitor"][0]
	selector := sm["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
	labels := svc["metadata"].(map[string]any)["labels"].(map[string]any)
	for k, v := range selector {
		if labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v; the metrics Service has %v", k, v, labels[k])
		}
	}
	endpoint := sm["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any)
	if svcPort := svc["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["name"]; endpoint["port"] != svcPort {
		t.Errorf("ServiceMonitor scrapes port %v; the metrics Service's is %v", endpoint["port"], svcPort)
	}
	// The per-Mydemo series carry the Mydemo's namespace in a label
	// named namespace, which Prometheus Operator also sets on every
	// target (the controller's own namespace). Without honorLabels the
	// scraped one becomes exported_namespace, and every alert and panel
	// that groups by namespace sees crddemo-system for all Mydemos.
	if endpoint["honorLabels"] != true {
		t.Errorf("ServiceMonitor endpoint has honorLabels %v, want true", endpoint["honorLabels"])
	}
}
