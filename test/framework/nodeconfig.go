package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeContainerdConfig writes containerd's configuration: every path in
// the node's directory, the CNI bridge, and restrict_oom_score_adj, since
// this machine may not grant CAP_SYS_RESOURCE.
func (n *Node) writeContainerdConfig(pause string) error {
	d := n.Dir
	cniConf := filepath.Join(d, "cni")
	if err := os.MkdirAll(cniConf, 0o755); err != nil {
		return err
	}
	// No IP masquerade: the Pods' own addresses reach test hosts, which
	// route back through the node.
	conflist := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "crddemo",
  "plugins": [{
    "type": "bridge",
    "bridge": "cni0",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }]
}
`, PodCIDR.String(), filepath.Join(d, "cni-ipam"))
	if err := os.WriteFile(filepath.Join(cniConf, "10-crddemo.conflist"), []byte(conflist), 0o644); err != nil {
		return err
	}
	toml := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
`, filepath.Join(d, "containerd", "root"), filepath.Join(d, "containerd", "state"),
		filepath.Join(d, "containerd.sock"), filepath.Join(d, "containerd-ttrpc.sock"),
		filepath.Join(d, "containerd", "opt"), pause, cniConf)
	return os.WriteFile(filepath.Join(d, "containerd.toml"), []byte(toml), 0o644)
}

// writeKubeletConfig writes the KubeletConfiguration. The settings that
// differ from a kubelet's defaults are what this machine needs: cgroup v1
// through cgroupfs under a cgroupRoot of the node's own, no OOM score
// changes, no DNS server from the machine, and no eviction or image GC on a
// shared disk.
func (n *Node) writeKubeletConfig(sock string) error {
	cfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /%s
cgroupsPerQOS: true
enforceNodeAllocatable: []
containerRuntimeEndpoint: unix://%s
address: %s
port: 10250
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %q
authorization:
  mode: AlwaysAllow
oomScoreAdj: 0
failSwapOn: false
resolvConf: ""
clusterDNS: []
protectKernelDefaults: false
localStorageCapacityIsolation: false
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "0%%"
  nodefs.inodesFree: "0%%"
  imagefs.available: "0%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
nodeStatusUpdateFrequency: 2s
syncFrequency: 5s
fileCheckFrequency: 20s
registerNode: true
maxPods: 20
podPidsLimit: -1
`, n.Name, sock, NodeIP, filepath.Join(n.Dir, "ca.crt"))
	return os.WriteFile(filepath.Join(n.Dir, "kubelet.yaml"), []byte(cfg), 0o644)
}

// writeKubeProxyConfig writes the KubeProxyConfiguration: nftables mode,
// and conntrack settings of 0 so that kube-proxy leaves the machine-wide
// conntrack table and timeouts alone.
func (n *Node) writeKubeProxyConfig(kubeconfig string) error {
	cfg := strings.Join([]string{
		"apiVersion: kubeproxy.config.k8s.io/v1alpha1",
		"kind: KubeProxyConfiguration",
		"mode: nftables",
		"hostnameOverride: " + n.Name,
		"clusterCIDR: " + PodCIDR.String(),
		"bindAddress: 0.0.0.0",
		"healthzBindAddress: 127.0.0.1:10256",
		"metricsBindAddress: 127.0.0.1:10249",
		"oomScoreAdj: 0",
		"clientConnection:",
		"  kubeconfig: " + kubeconfig,
		"conntrack:",
		"  maxPerCore: 0",
		"  min: 0",
		"  tcpEstablishedTimeout: 0s",
		"  tcpCloseWaitTimeout: 0s",
		"  udpTimeout: 0s",
		"  udpStreamTimeout: 0s",
		"nftables:",
		"  syncPeriod: 30s",
		"  minSyncPeriod: 0s",
		"",
	}, "\n")
	return os.WriteFile(filepath.Join(n.Dir, "kube-proxy.yaml"), []byte(cfg), 0o644)
}
