package framework

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// KubectlPath returns the path of the kubectl binary matching the control
// plane.
func (cp *ControlPlane) KubectlPath() string {
	return cp.bins.kubectl
}

// Kubectl runs kubectl as the admin against the control plane and returns
// its standard output. A failure's error includes the command and its
// standard error. A --kubeconfig flag in args overrides the admin one, to run
// as another identity (see WriteKubeconfig). kubectl's discovery cache is
// kept in Dir rather than in the user's home directory.
func (cp *ControlPlane) Kubectl(ctx context.Context, args ...string) (string, error) {
	full := append([]string{
		"--kubeconfig=" + cp.KubeconfigPath,
		"--cache-dir=" + filepath.Join(cp.Dir, "kubectl-cache"),
	}, args...)
	cmd := exec.CommandContext(ctx, cp.bins.kubectl, full...)
	cmd.SysProcAttr = childSysProcAttr()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s",
			strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
