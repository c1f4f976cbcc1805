package v1

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// generatedCRD is the Mydemo CRD as make generate writes it from the
// markers (hack/update-codegen.sh).
const generatedCRD = "../../../../crd/crddemo.k8s.io_mydemos.yaml"

// TestDefaultsMatchTheCRD: the default the generated CRD gives each probe
// field is the constant the controller and the prober use, and the field's
// documentation states it, so a marker, a constant or a comment cannot
// change alone. resolvePeriodSeconds has no default in the CRD (the
// controller applies it), so only its documentation is checked.
func TestDefaultsMatchTheCRD(t *testing.T) {
	data, err := os.ReadFile(generatedCRD)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatalf("%s: %v", generatedCRD, err)
	}
	var version *apiextensionsv1.CustomResourceValidation
	for _, v := range crd.Spec.Versions {
		if v.Name == SchemeGroupVersion.Version {
			version = v.Schema
		}
	}
	if version == nil || version.OpenAPIV3Schema == nil {
		t.Fatalf("%s has no schema for %s", generatedCRD, SchemeGroupVersion.Version)
	}
	field := func(path ...string) apiextensionsv1.JSONSchemaProps {
		t.Helper()
		s := *version.OpenAPIV3Schema
		for _, p := range path {
			next, ok := s.Properties[p]
			if !ok {
				t.Fatalf("%s: no field %s", generatedCRD, strings.Join(path, "."))
			}
			s = next
		}
		return s
	}
	for _, tc := range []struct {
		field string
		want  int32
	}{
		{"periodSeconds", DefaultProbePeriodSeconds},
		{"edgeIntervalSeconds", DefaultProbeEdgeIntervalSeconds},
		{"timeoutSeconds", DefaultProbeTimeoutSeconds},
		{"successThreshold", DefaultProbeSuccessThreshold},
		{"failureThreshold", DefaultProbeFailureThreshold},
	} {
		s := field("spec", "probe", tc.field)
		var got int32
		if s.Default == nil {
			t.Errorf("spec.probe.%s has no default in the CRD; want %d", tc.field, tc.want)
		} else if err := json.Unmarshal(s.Default.Raw, &got); err != nil || got != tc.want {
			t.Errorf("spec.probe.%s defaults to %s in the CRD, want %d", tc.field, s.Default.Raw, tc.want)
		}
		if doc := fmt.Sprintf("Default %d", tc.want); !strings.Contains(s.Description, doc) {
			t.Errorf("spec.probe.%s's documentation does not say %q: %q", tc.field, doc, s.Description)
		}
	}
	s := field("spec", "resolvePeriodSeconds")
	if s.Default != nil {
		t.Errorf("spec.resolvePeriodSeconds has the default %s in the CRD; the controller applies it", s.Default.Raw)
	}
	if doc := fmt.Sprintf("default %d", DefaultResolvePeriodSeconds); !strings.Contains(s.Description, doc) {
		t.Errorf("spec.resolvePeriodSeconds's documentation does not say %q: %q", doc, s.Description)
	}
}
