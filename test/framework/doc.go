// Package framework runs a real Kubernetes control plane on the loopback
// interface for tests and for local development.
//
// Start launches etcd and kube-apiserver (and, when asked, a
// kube-controller-manager that runs only the garbage collector and the
// namespace controller) from prebuilt binaries, installs the project's
// CustomResourceDefinitions and returns a ControlPlane holding an admin
// rest.Config and kubeconfig. Helpers mint other identities (client
// certificates, service account tokens) so that tests can exercise RBAC.
//
// The binaries are looked up in $CRDDEMO_BIN_DIR or, when that is unset, in
// the bin directory at the root of the github.com/crddemo/crddemo module;
// `make controlplane` builds them there.
//
// Tests normally share one control plane per test binary: call RunMain from
// TestMain and Get from the tests, and give every test its own namespace with
// CreateNamespace.
//
// The package is also the one home of what the test packages share:
// FreePorts, Eventually and Poll, RepoRoot and BinDir, the operator's binary
// run as a process (ControllerBinary, StartController, Controller) with its
// metrics read by ParseMetrics, and a further kube-controller-manager
// (ControlPlane.StartControllerManager). The unit tests under pkg/ keep
// their own small helpers instead: importing this package would build the
// control plane harness and its client libraries into every unit test.
//
// Every child process is placed in its own process group and is killed by
// the kernel if the process that started it dies, so a crashed test binary
// does not leave servers behind. The package supports Linux; on other Unix
// systems only the process-group cleanup is available.
package framework
