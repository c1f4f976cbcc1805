package probe

import (
	"testing"
	"time"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/probe/check"
)

// TestTargetDefaultsAreTheAPIs: a target's fields left at zero (or below)
// are the Mydemo API's defaults, so a caller that leaves one unset probes
// as a Mydemo that never named it.
func TestTargetDefaultsAreTheAPIs(t *testing.T) {
	want := Target{
		Address:          "127.0.0.1:80",
		Spec:             check.Spec{Kind: check.KindTCP},
		Period:           time.Duration(crddemov1.DefaultProbePeriodSeconds) * time.Second,
		Timeout:          time.Duration(crddemov1.DefaultProbeTimeoutSeconds) * time.Second,
		SuccessThreshold: int(crddemov1.DefaultProbeSuccessThreshold),
		FailureThreshold: int(crddemov1.DefaultProbeFailureThreshold),
	}
	for _, in := range []Target{
		{Address: "127.0.0.1:80"},
		{Address: "127.0.0.1:80", Period: -time.Second, Timeout: -1, SuccessThreshold: -1, FailureThreshold: -1},
	} {
		if got := in.withDefaults(); got != want {
			t.Errorf("%+v with defaults = %+v, want %+v", in, got, want)
		}
	}
}
