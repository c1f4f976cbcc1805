// Package node holds the tests that need a real node: the controller's
// image running as Pods of the deploy/ Deployment on a real kubelet, and a
// real kube-proxy routing a Mydemo's ClusterIP by the controller's
// readiness verdicts.
package node

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/crddemo/crddemo/test/framework"
)

// pauseImage is the sandbox image `make image` builds from hack/image/pause.
const pauseImage = "crddemo.local/pause:1"

func TestMain(m *testing.M) {
	bin, err := framework.BinDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	images := filepath.Join(bin, "images")
	os.Exit(framework.RunMain(m, framework.Options{
		ControllerManager: true,
		Node: &framework.NodeOptions{
			Images:     []string{filepath.Join(images, "pause.tar"), filepath.Join(images, "mydemo-controller.tar")},
			PauseImage: pauseImage,
		},
	}))
}
