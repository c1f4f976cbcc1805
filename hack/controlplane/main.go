// Command controlplane is etcd, kube-apiserver, kube-controller-manager,
// kubectl, kube-scheduler, kubelet and kube-proxy in one executable, which
// runs the component it is invoked as: hack/build-controlplane.sh puts a
// symlink named after each component into bin/.
//
// Why one executable: the seven components share most of their 2,900
// packages, and each separate executable links all of its own again. One
// link instead of seven saves minutes of a cold build on two cores. Each
// component's main package is a thin wrapper around an importable command,
// called here as that main package calls it.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	_ "time/tzdata" // kube-apiserver and kube-controller-manager: CronJob time zones

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl: the client auth plugins
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"          // the JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go's metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// kubeCommands are the Kubernetes components, by the name they are run as.
func kubeCommands() map[string]func() *cobra.Command {
	return map[string]func() *cobra.Command{
		"kube-apiserver":          apiserver.NewAPIServerCommand,
		"kube-controller-manager": controllermanager.NewControllerManagerCommand,
		"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
		"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
		"kube-proxy":              proxy.NewProxyCommand,
	}
}

func main() {
	name := filepath.Base(os.Args[0])
	switch name {
	case "etcd":
		etcdmain.Main(os.Args)
	case "kubectl":
		// As kubectl's own main: the verbosity is set before the command
		// is built, so that building it (plugins, .kuberc) can log.
		// An invalid -v is ignored here, as in kubectl's own main: the
		// command's flag parsing refuses it below with a usage message.
		_, _ = logs.GlogSetter(kubectl.GetLogVerbosity(os.Args))
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
	default:
		commands := kubeCommands()
		newCommand, ok := commands[name]
		if !ok {
			names := []string{"etcd", "kubectl"}
			for n := range commands {
				names = append(names, n)
			}
			sort.Strings(names)
			fmt.Fprintf(os.Stderr, "run as one of %s (a symlink of that name), not %q\n", strings.Join(names, ", "), name)
			os.Exit(2)
		}
		os.Exit(cli.Run(newCommand()))
	}
}
