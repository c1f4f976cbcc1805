package framework

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Kubectl runs kubectl as the admin against the control plane and returns
// its standard output. A failure's error includes the command and its
// standard error. A --kubeconfig flag in args overrides the admin one, to run
// as another identity (see WriteKubeconfig). kubectl's discovery cache is
// kept in Dir rather than in the user's home directory.
func (cp *ControlPlane) Kubectl(ctx context.Context, args ...string) (string, error) {
	stdout, _, err := cp.KubectlOutput(ctx, args...)
	return stdout, err
}

// KubectlOutput is Kubectl that also returns standard error, for tests of
// the warnings kubectl prints.
func (cp *ControlPlane) KubectlOutput(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	full := append([]string{
		"--kubeconfig=" + cp.KubeconfigPath,
		"--cache-dir=" + filepath.Join(cp.Dir, "kubectl-cache"),
	}, args...)
	cmd := exec.CommandContext(ctx, cp.bins.kubectl, full...)
	cmd.SysProcAttr = childSysProcAttr()
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl %s: %w: %s",
			strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), nil
}
