package main

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// restConfig resolves the API server configuration in the usual order:
// --kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config; --master overrides
// the server address of whichever is used.
func restConfig(kubeconfig, master string) (*rest.Config, string, error) {
	overrides := &clientcmd.ConfigOverrides{}
	if master != "" {
		overrides.ClusterInfo.Server = master
	}
	load := func(rules *clientcmd.ClientConfigLoadingRules, source string) (*rest.Config, string, error) {
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
		if err != nil {
			return nil, "", fmt.Errorf("loading %s: %w", source, err)
		}
		return cfg, source, nil
	}
	if kubeconfig != "" {
		return load(&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, "--kubeconfig "+kubeconfig)
	}
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		return load(&clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(env)}, "$KUBECONFIG")
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", fmt.Errorf("loading the in-cluster configuration: %w", err)
		}
		if master != "" {
			cfg.Host = master
		}
		return cfg, "in-cluster", nil
	}
	if _, err := os.Stat(clientcmd.RecommendedHomeFile); err == nil {
		return load(&clientcmd.ClientConfigLoadingRules{ExplicitPath: clientcmd.RecommendedHomeFile}, clientcmd.RecommendedHomeFile)
	}
	if master != "" {
		return &rest.Config{Host: master}, "--master", nil
	}
	return nil, "", fmt.Errorf("no API server configuration: pass --kubeconfig, set KUBECONFIG, run in a cluster, or create %s", clientcmd.RecommendedHomeFile)
}
