package framework

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

const crdEstablishTimeout = 30 * time.Second

// readCRDs decodes every CustomResourceDefinition in the *.yaml files of dir,
// which may hold several documents each.
func readCRDs(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list CRD files in %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no *.yaml files in CRD directory %s", dir)
	}
	sort.Strings(paths)
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read CRD file: %w", err)
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for doc := 1; ; doc++ {
			raw, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", path, doc, err)
			}
			if len(bytes.TrimSpace(raw)) == 0 {
				continue
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.UnmarshalStrict(raw, crd); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", path, doc, err)
			}
			if crd.APIVersion == "" && crd.Kind == "" && crd.Name == "" {
				continue // a document holding only comments
			}
			if crd.Kind != "CustomResourceDefinition" || crd.APIVersion != apiextensionsv1.SchemeGroupVersion.String() {
				return nil, fmt.Errorf("%s: document %d is a %s %s, not an %s CustomResourceDefinition",
					path, doc, crd.APIVersion, crd.Kind, apiextensionsv1.SchemeGroupVersion)
			}
			crds = append(crds, crd)
		}
	}
	return crds, nil
}

// installCRDs creates (or updates) the CRDs and waits until every one is
// Established, that is, served by the API server. It returns their names
// and the time from which creating custom resources is no longer delayed
// (see crdCreateDelay).
func installCRDs(ctx context.Context, cfg *rest.Config, crds []*apiextensionsv1.CustomResourceDefinition) ([]string, time.Time, error) {
	client, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("create apiextensions client: %w", err)
	}
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	names := make([]string, 0, len(crds))
	for _, crd := range crds {
		if _, err := api.Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			if !apierrors.IsAlreadyExists(err) {
				return nil, time.Time{}, fmt.Errorf("create CRD %s: %w", crd.Name, err)
			}
			existing, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return nil, time.Time{}, fmt.Errorf("get CRD %s: %w", crd.Name, err)
			}
			crd.ResourceVersion = existing.ResourceVersion
			if _, err := api.Update(ctx, crd, metav1.UpdateOptions{}); err != nil {
				return nil, time.Time{}, fmt.Errorf("update CRD %s: %w", crd.Name, err)
			}
		}
		names = append(names, crd.Name)
	}

	ctx, cancel := context.WithTimeout(ctx, crdEstablishTimeout)
	defer cancel()
	var undelayed time.Time
	for _, name := range names {
		for {
			crd, err := api.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, time.Time{}, fmt.Errorf("wait for CRD %s to be Established: %w", name, err)
			}
			since, reason := crdEstablished(crd)
			if !since.IsZero() {
				if t := since.Add(crdCreateDelay); t.After(undelayed) {
					undelayed = t
				}
				break
			}
			if reason != "" {
				err = errors.New(reason)
			}
			select {
			case <-ctx.Done():
				return nil, time.Time{}, fmt.Errorf("CRD %s not Established: %w", name, errors.Join(ctx.Err(), err))
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return names, undelayed, nil
}

// crdCreateDelay is how long after a CRD becomes Established the API server
// holds every create of one of its resources for two seconds (so that, with
// several API servers, all of them serve the resource before it exists).
// Start waits this out so that tests do not pay for it.
const crdCreateDelay = 2 * time.Second

// crdEstablished returns when the CRD became Established (zero if it is
// not) and, if its names were refused, why.
func crdEstablished(crd *apiextensionsv1.CustomResourceDefinition) (time.Time, string) {
	var since time.Time
	var reason string
	if c := apihelpers.FindCRDCondition(crd, apiextensionsv1.Established); c != nil && c.Status == apiextensionsv1.ConditionTrue {
		since = c.LastTransitionTime.Time
	}
	if c := apihelpers.FindCRDCondition(crd, apiextensionsv1.NamesAccepted); c != nil && c.Status == apiextensionsv1.ConditionFalse {
		reason = "names not accepted: " + c.Message
	}
	return since, reason
}
