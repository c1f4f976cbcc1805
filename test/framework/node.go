package framework

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// The addresses of the node. They are private, routed nowhere but inside
// the node's network namespace, and clear of the ranges test hosts use
// (10.249.0.0/16 for veth links, 10.250.0.0/15 for subnets).
var (
	// NodeIP is the node's InternalIP, on a dummy interface in the node's
	// network namespace. The API server is reachable from Pods at
	// NodeIP:NodeAPIPort.
	NodeIP = netip.MustParseAddr("10.248.0.1")
	// PodCIDR is the range the bridge CNI hands out Pod addresses from.
	PodCIDR = netip.MustParsePrefix("10.244.0.0/24")
)

const (
	// NodeAPIPort is where the API server answers inside the node's network
	// namespace (forwarded to the API server on loopback).
	NodeAPIPort = 6443
	// nodePrefix starts the names of the node's state directory, network
	// namespace and cgroups, so leftovers are easy to recognise.
	nodePrefix = "crddemo-node-"
	// nodeStartTimeout bounds the start of the node's components until the
	// Node is Ready and kube-proxy programs rules.
	nodeStartTimeout = 3 * time.Minute
	// nodeControllers are the kube-controller-manager controllers that
	// Deployments and Services with selectors need, started as a second
	// controller manager next to the framework's garbage collector.
	nodeControllers = "deployment-controller,replicaset-controller,serviceaccount-controller," +
		"root-ca-certificate-publisher-controller,endpointslice-controller"
)

// NodeOptions configures a node started with Options.Node.
type NodeOptions struct {
	// Images are OCI image archives imported into containerd before the
	// kubelet starts. The sandbox ("pause") image must be among them, under
	// the name PauseImage.
	Images []string
	// PauseImage is the sandbox image containerd runs for every Pod.
	PauseImage string
}

// Node is a real Kubernetes node of the control plane: containerd and runc,
// a kubelet with a bridge CNI, kube-proxy in nftables mode, kube-scheduler
// and the controllers Deployments need. Everything it changes lives in a
// network namespace and a mount namespace of its own, which Stop removes.
type Node struct {
	// Name is the Node's name and the name of its network namespace.
	Name string
	// NetNS is the path of the node's network namespace.
	NetNS string
	// Dir holds the node's state and logs (<Dir>/<component>.log).
	Dir string

	logf     func(format string, args ...any)
	cgroups  []string // cgroup directories created, one per hierarchy
	tracking string   // cgroup.procs file every node process is put into
	nsMade   bool

	mu    sync.Mutex
	procs []*process // in start order
	proxy *tcpForwarder
}

// Node returns the node started with Options.Node, or nil.
func (cp *ControlPlane) Node() *Node {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.node
}

// startNode brings up a node; on error the caller stops what was recorded.
func (cp *ControlPlane) startNode(ctx context.Context, opts NodeOptions) (*Node, error) {
	ctx, cancel := context.WithTimeout(ctx, nodeStartTimeout)
	defer cancel()
	removeStaleNodes(cp.logf)
	for _, tool := range []string{"ip", "nsenter", "unshare", "containerd", "containerd-shim-runc-v2", "runc", "ctr", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("node: %s is required (.ci/run installs containerd, runc, containernetworking-plugins, nftables): %w", tool, err)
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		return nil, fmt.Errorf("node: the bridge CNI plugin is required (apt-get install containernetworking-plugins): %w", err)
	}
	dir, err := os.MkdirTemp("", nodePrefix)
	if err != nil {
		return nil, fmt.Errorf("node: create state directory: %w", err)
	}
	n := &Node{Name: filepath.Base(dir), Dir: dir, logf: cp.logf}
	n.NetNS = "/var/run/netns/" + n.Name
	cp.mu.Lock()
	cp.node = n
	cp.mu.Unlock()
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, err
	}
	binDir := filepath.Dir(cp.bins.apiServer)

	if err := n.makeNetNS(ctx); err != nil {
		return nil, err
	}
	if err := n.makeCgroups(); err != nil {
		return nil, err
	}
	holder, err := n.startHolder(ctx)
	if err != nil {
		return nil, err
	}
	enter := []string{"--net=/proc/" + strconv.Itoa(holder) + "/ns/net", "--mount=/proc/" + strconv.Itoa(holder) + "/ns/mnt"}

	// The API server listens on loopback of the initial namespace; the
	// node's components and Pods reach it through this forwarder.
	apiURL, err := url.Parse(cp.Config.Host)
	if err != nil {
		return nil, err
	}
	n.proxy, err = newTCPForwarder(n.NetNS, net.JoinHostPort("0.0.0.0", strconv.Itoa(NodeAPIPort)), apiURL.Host)
	if err != nil {
		return nil, err
	}
	nodeAPI := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(NodeAPIPort))

	// containerd.
	sock := filepath.Join(dir, "containerd.sock")
	if err := n.writeContainerdConfig(opts.PauseImage); err != nil {
		return nil, err
	}
	if err := n.start("containerd", enter, "containerd", "--config", filepath.Join(dir, "containerd.toml")); err != nil {
		return nil, err
	}
	if err := n.waitCmd(ctx, "containerd", "ctr", "--address", sock, "version"); err != nil {
		return nil, err
	}
	for _, img := range opts.Images {
		out, err := exec.CommandContext(ctx, "ctr", "--address", sock, "-n", "k8s.io", "images", "import", img).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("node: import %s: %w: %s", img, err, out)
		}
	}

	// The kubernetes Service needs its endpoints (the test API server runs
	// without the endpoint reconciler) so that Pods reach the API.
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		return nil, err
	}
	if err := ensureKubernetesEndpoints(ctx, cs); err != nil {
		return nil, err
	}

	// kubelet.
	kubeletKubeconfig := filepath.Join(dir, "kubelet.kubeconfig")
	if err := cp.writeNodeKubeconfig(kubeletKubeconfig, nodeAPI, "system:node:"+n.Name, []string{"system:nodes", "system:masters"}); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), cp.pki.caPEM, 0o644); err != nil {
		return nil, err
	}
	if err := n.writeKubeletConfig(sock); err != nil {
		return nil, err
	}
	err = n.start("kubelet", enter, filepath.Join(binDir, "kubelet"),
		"--config="+filepath.Join(dir, "kubelet.yaml"),
		"--kubeconfig="+kubeletKubeconfig,
		"--hostname-override="+n.Name,
		"--node-ip="+NodeIP.String(),
		"--root-dir="+filepath.Join(dir, "kubelet"),
		"--v=1")
	if err != nil {
		return nil, err
	}

	// kube-proxy.
	proxyKubeconfig := filepath.Join(dir, "kube-proxy.kubeconfig")
	if err := cp.writeNodeKubeconfig(proxyKubeconfig, nodeAPI, "system:kube-proxy", []string{"system:node-proxier", "system:masters"}); err != nil {
		return nil, err
	}
	if err := n.writeKubeProxyConfig(proxyKubeconfig); err != nil {
		return nil, err
	}
	if err := n.start("kube-proxy", enter, filepath.Join(binDir, "kube-proxy"), "--config="+filepath.Join(dir, "kube-proxy.yaml"), "--v=1"); err != nil {
		return nil, err
	}

	// kube-scheduler and the controllers, in the initial namespace: they
	// only talk to the API server.
	schedKubeconfig := filepath.Join(dir, "kube-scheduler.kubeconfig")
	if err := cp.writeNodeKubeconfig(schedKubeconfig, cp.Config.Host, "system:kube-scheduler", []string{"system:masters"}); err != nil {
		return nil, err
	}
	if err := n.start("kube-scheduler", nil, filepath.Join(binDir, "kube-scheduler"),
		"--kubeconfig="+schedKubeconfig, "--leader-elect=false", "--secure-port=0", "--profiling=false"); err != nil {
		return nil, err
	}
	kcmKubeconfig := filepath.Join(dir, "kube-controller-manager.kubeconfig")
	if err := cp.writeNodeKubeconfig(kcmKubeconfig, cp.Config.Host, controllerManagerUser, []string{"system:masters"}); err != nil {
		return nil, err
	}
	if err := n.start("kube-controller-manager", nil, filepath.Join(binDir, "kube-controller-manager"),
		"--kubeconfig="+kcmKubeconfig, "--controllers="+nodeControllers, "--leader-elect=false",
		"--use-service-account-credentials=false", "--kube-api-qps=100", "--kube-api-burst=200",
		"--secure-port=0", "--profiling=false"); err != nil {
		return nil, err
	}

	if err := n.waitReady(ctx, cs); err != nil {
		return nil, err
	}
	return n, nil
}

// makeNetNS creates the node's network namespace with an interface
// carrying NodeIP and a route for the Service CIDR, so that connect() to a
// ClusterIP finds a route and reaches kube-proxy's DNAT.
func (n *Node) makeNetNS(ctx context.Context) error {
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("node: ip netns add: %w: %s", err, out)
	}
	n.nsMade = true
	batch := strings.Join([]string{
		"link set lo up",
		// A veth pair with both ends in the namespace stands in for the
		// node's network card (the dummy driver may not be available).
		"link add node0 type veth peer name node0peer",
		"addr add " + NodeIP.String() + "/32 dev node0",
		"link set node0 up",
		"link set node0peer up",
		"route add " + serviceClusterIPRange + " dev node0 src " + NodeIP.String(),
	}, "\n") + "\n"
	cmd := exec.CommandContext(ctx, "ip", "-n", n.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("node: set up network namespace: %w: %s", err, out)
	}
	return nil
}

// cgroupHierarchies lists the mounted cgroup v1 hierarchies (or the single
// v2 one) under /sys/fs/cgroup.
func cgroupHierarchies() ([]string, error) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}, nil
	}
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join("/sys/fs/cgroup", e.Name())
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err == nil {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// makeCgroups creates the kubelet's cgroupRoot (/<Name>) in every
// hierarchy, and /<Name>/system in the pids (or v2) hierarchy, which every
// process of the node joins so that Stop finds all of them, containerd's
// shims and the containers included.
func (n *Node) makeCgroups() error {
	hs, err := cgroupHierarchies()
	if err != nil {
		return fmt.Errorf("node: list cgroup hierarchies: %w", err)
	}
	for _, h := range hs {
		d := filepath.Join(h, n.Name)
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("node: create cgroup: %w", err)
		}
		n.cgroups = append(n.cgroups, d)
		if strings.HasSuffix(h, "/cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(h, f))
				if err == nil {
					err = os.WriteFile(filepath.Join(d, f), v, 0o644)
				}
				if err != nil {
					return fmt.Errorf("node: set %s: %w", f, err)
				}
			}
		}
	}
	track := filepath.Join("/sys/fs/cgroup/pids", n.Name)
	if len(hs) == 1 {
		track = filepath.Join(hs[0], n.Name)
	}
	if err := os.Mkdir(filepath.Join(track, "system"), 0o755); err != nil {
		return fmt.Errorf("node: create cgroup: %w", err)
	}
	n.tracking = filepath.Join(track, "system", "cgroup.procs")
	return nil
}

// startHolder starts the process that owns the node's mount namespace and
// sits in its network namespace. Its mount namespace is private and hides
// what the components write to fixed paths (/run, /var/log, /var/lib) and
// the three sysctls the kubelet insists on setting, so the machine's own
// values stay untouched.
func (n *Node) startHolder(ctx context.Context) (int, error) {
	sysctls := filepath.Join(n.Dir, "sysctl")
	if err := os.MkdirAll(sysctls, 0o755); err != nil {
		return 0, err
	}
	// The values the kubelet wants: it reads them, finds them set and does
	// not write.
	shadow := map[string]string{"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
	var script strings.Builder
	fmt.Fprintf(&script, "set -e\necho $$ > %s\n", n.tracking)
	for _, d := range []string{"/run", "/var/log", "/var/lib"} {
		fmt.Fprintf(&script, "mount -t tmpfs -o mode=755 tmpfs %s\n", d)
	}
	script.WriteString("mkdir -p /run/netns /run/containerd /var/log/pods /var/log/containers /var/lib/cni\n")
	for name, v := range shadow {
		f := filepath.Join(sysctls, strings.ReplaceAll(name, "/", "."))
		if err := os.WriteFile(f, []byte(v+"\n"), 0o644); err != nil {
			return 0, err
		}
		fmt.Fprintf(&script, "mount --bind %s /proc/sys/%s\n", f, name)
	}
	ready := filepath.Join(n.Dir, "holder.ready")
	fmt.Fprintf(&script, "touch %s\nexec sleep infinity\n", ready)
	// nsenter --net, not `ip netns exec`: the latter remounts /sys, which
	// hides the cgroup tree from the kubelet.
	p, err := startProcess("holder", "nsenter",
		[]string{"--net=" + n.NetNS, "--", "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script.String()},
		filepath.Join(n.Dir, "holder.log"), n.logf)
	if err != nil {
		return 0, err
	}
	n.mu.Lock()
	n.procs = append(n.procs, p)
	n.mu.Unlock()
	for {
		if _, err := os.Stat(ready); err == nil {
			return p.pid(), nil
		}
		if p.exited() {
			return 0, fmt.Errorf("node: mount namespace set-up failed: %w%s", p.exitError(), p.logTail())
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// start runs a component, inside the node's namespaces when enter is set,
// in the tracking cgroup.
func (n *Node) start(name string, enter []string, bin string, args ...string) error {
	// The shell joins the cgroup before it becomes the component, so no
	// child can escape being tracked.
	wrapper := []string{"-c", "echo $$ > " + n.tracking + ` && exec "$0" "$@"`}
	var argv []string
	if enter != nil {
		argv = append(append(append(argv, enter...), "--", "sh"), wrapper...)
	} else {
		argv = append(argv, wrapper...)
	}
	argv = append(append(argv, bin), args...)
	cmd := "sh"
	if enter != nil {
		cmd = "nsenter"
	}
	n.logf("node: starting %s", name)
	p, err := startProcess(name, cmd, argv, filepath.Join(n.Dir, name+".log"), n.logf)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.procs = append(n.procs, p)
	n.mu.Unlock()
	return nil
}

func (n *Node) proc(name string) *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// waitCmd runs a command until it succeeds, failing early when the named
// component has exited.
func (n *Node) waitCmd(ctx context.Context, component string, name string, args ...string) error {
	for {
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err == nil {
			return nil
		}
		if p := n.proc(component); p != nil && p.exited() {
			return fmt.Errorf("node: %w%s", p.exitError(), p.logTail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: waiting for %s: %w: %s", component, ctx.Err(), out)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitReady waits for the Node to be Ready, removes the not-ready taint
// (there is no node-lifecycle controller) and waits for kube-proxy to have
// programmed the kubernetes Service.
func (n *Node) waitReady(ctx context.Context, cs kubernetes.Interface) error {
	begin := time.Now()
	for {
		if err := n.checkRunning(); err != nil {
			return err
		}
		node, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err == nil && nodeReady(node) {
			var kept []corev1.Taint
			for _, t := range node.Spec.Taints {
				if t.Key != corev1.TaintNodeNotReady {
					kept = append(kept, t)
				}
			}
			if len(kept) == len(node.Spec.Taints) {
				break
			}
			node.Spec.Taints = kept
			if _, err := cs.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
				return fmt.Errorf("node: remove not-ready taint: %w", err)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: %s not Ready: %w%s", n.Name, ctx.Err(), n.proc("kubelet").logTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
	n.logf("node: %s Ready after %s", n.Name, time.Since(begin).Round(time.Millisecond))
	for {
		out, err := exec.CommandContext(ctx, "nsenter", "--net="+n.NetNS, "nft", "list", "table", "ip", "kube-proxy").CombinedOutput()
		if err == nil && strings.Contains(string(out), "default/kubernetes") {
			break
		}
		if err := n.checkRunning(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: kube-proxy has no rules for the kubernetes Service: %w%s", ctx.Err(), n.proc("kube-proxy").logTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
	n.logf("node: kube-proxy ready after %s", time.Since(begin).Round(time.Millisecond))
	return nil
}

// checkRunning fails when a component has exited.
func (n *Node) checkRunning() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.procs {
		if p.exited() {
			return fmt.Errorf("node: %w%s", p.exitError(), p.logTail())
		}
	}
	return nil
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ensureKubernetesEndpoints gives the kubernetes Service an EndpointSlice
// pointing at the API server as Pods see it.
func ensureKubernetesEndpoints(ctx context.Context, cs kubernetes.Interface) error {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "kubernetes",
			Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: "kubernetes",
				discoveryv1.LabelManagedBy:   "crddemo-test-framework",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{NodeIP.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](NodeAPIPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	_, err := cs.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Create(ctx, slice, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("node: create EndpointSlice of the kubernetes Service: %w", err)
	}
	return nil
}

// writeNodeKubeconfig writes a kubeconfig with a client certificate for
// user in groups, for the API server at host.
func (cp *ControlPlane) writeNodeKubeconfig(path, host, user string, groups []string) error {
	certPEM, keyPEM, err := cp.pki.clientCert(user, groups)
	if err != nil {
		return err
	}
	cfg := cp.hostConfig()
	cfg.Host = host
	cfg.CertData, cfg.KeyData = certPEM, keyPEM
	return cp.WriteKubeconfig(path, cfg)
}

// Stop stops every component, kills whatever is left in the node's cgroup
// (containerd's shims, the containers), removes the cgroups, the network
// namespace and the state directory. It may be called more than once.
func (n *Node) Stop() error {
	return n.stop(stopGrace)
}

func (n *Node) stop(grace time.Duration) error {
	n.mu.Lock()
	procs := n.procs
	n.procs = nil
	proxy := n.proxy
	n.proxy = nil
	n.mu.Unlock()
	var errs []error
	// Reverse start order: the controllers first, containerd and the
	// holder last.
	for i := len(procs) - 1; i >= 0; i-- {
		g := grace
		if procs[i].name == "holder" || procs[i].name == "containerd" {
			g = 0
		}
		if err := procs[i].stop(g); err != nil {
			errs = append(errs, err)
		}
	}
	if proxy != nil {
		proxy.close()
	}
	errs = append(errs, cleanupNode(n.Name, n.Dir, n.logf))
	return errors.Join(errs...)
}

// cleanupNode removes what a node named name left: processes in its cgroups,
// the cgroups, its network namespace and dir. Missing pieces are fine.
func cleanupNode(name, dir string, logf func(string, ...any)) error {
	var errs []error
	hs, _ := cgroupHierarchies()
	// Kill until no process is left: a process may fork while we read.
	deadline := time.Now().Add(killWait)
	for {
		pids := cgroupPids(hs, name)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("node %s: processes %v survive SIGKILL", name, pids))
			break
		}
		for _, pid := range pids {
			_ = signalPid(pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, h := range hs {
		if err := removeCgroupTree(filepath.Join(h, name)); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := os.Stat("/var/run/netns/" + name); err == nil {
		errs = append(errs, removeAttachedTestHosts(name)...)
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("node %s: ip netns del: %w: %s", name, err, out))
		}
	}
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("node %s: remove state: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// removeAttachedTestHosts deletes the namespaces of test hosts created
// with testhost.Options{Parent: name} that are still attached to the node:
// after an interrupt their Close never runs, and once the node's namespace
// is gone nothing would tell them apart. A test host's end of the veth in
// the parent is named "cdh" plus the suffix of its namespace "crddemo-".
func removeAttachedTestHosts(name string) []error {
	out, err := exec.Command("ip", "-n", name, "-o", "link", "show", "type", "veth").CombinedOutput()
	if err != nil {
		return []error{fmt.Errorf("node %s: list veths: %w: %s", name, err, out)}
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		dev, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		suffix, ok := strings.CutPrefix(dev, "cdh")
		if !ok {
			continue
		}
		host := "crddemo-" + suffix
		if _, err := os.Stat("/var/run/netns/" + host); err != nil {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", host).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("node %s: remove test host %s: %w: %s", name, host, err, out))
		}
	}
	return errs
}

// cgroupPids lists the processes in every cgroup below /<name>.
func cgroupPids(hs []string, name string) []int {
	seen := map[int]bool{}
	var out []int
	for _, h := range hs {
		_ = filepath.WalkDir(filepath.Join(h, name), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// removeCgroupTree removes a cgroup and its children, deepest first.
func removeCgroupTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// removeStaleNodes cleans up after nodes whose test binary died without
// stopping them (SIGKILL, a test timeout): the kernel killed the components
// it started, but not containerd's shims, the containers, the cgroups and
// the network namespace.
func removeStaleNodes(logf func(string, ...any)) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), nodePrefix+"*"))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if err := cleanupNode(filepath.Base(dir), dir, logf); err != nil {
			logf("%v", err)
		} else {
			logf("removed node %s, left behind by exited process %d", filepath.Base(dir), pid)
		}
	}
}
