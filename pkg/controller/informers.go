package controller

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
	"github.com/crddemo/crddemo/pkg/generated/clientset/versioned"
	crddemoinformers "github.com/crddemo/crddemo/pkg/generated/informers/externalversions"
)

// NewInformerFactories returns the informer factories the controller needs.
// The Kubernetes factory lists and watches only objects carrying our
// managed-by label, so a cluster with 100k foreign Services costs us
// nothing. Both drop managedFields, which the controller never reads and
// which are often the largest part of an object. namespace "" means all.
func NewInformerFactories(kubeClient kubernetes.Interface, mydemoClient versioned.Interface, namespace string, resync time.Duration) (informers.SharedInformerFactory, crddemoinformers.SharedInformerFactory) {
	kubeFactory := informers.NewSharedInformerFactoryWithOptions(kubeClient, resync,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(opts *metav1.ListOptions) {
			opts.LabelSelector = ManagedSelector
		}),
		informers.WithTransform(stripManagedFields),
	)
	mydemoFactory := crddemoinformers.NewSharedInformerFactoryWithOptions(mydemoClient, resync,
		crddemoinformers.WithNamespace(namespace),
		crddemoinformers.WithTransform(stripMydemo),
	)
	return kubeFactory, mydemoFactory
}

// stripManagedFields drops metadata.managedFields before an object enters
// the cache.
func stripManagedFields(obj any) (any, error) {
	if accessor, ok := obj.(metav1.ObjectMetaAccessor); ok {
		accessor.GetObjectMeta().SetManagedFields(nil)
	}
	return obj, nil
}

// ownerIndex indexes our children by the namespace/name of the Mydemo that
// controls them, so a sync finds its EndpointSlices without a scan.
const ownerIndex = "mydemo-owner"

func indexByOwner(obj any) ([]string, error) {
	meta, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	owner, ok := controllingMydemo(meta)
	if !ok {
		return nil, nil
	}
	return []string{owner.String()}, nil
}

// controllingMydemo is the key of the Mydemo that controls obj, if any. It
// matches group and kind, not the exact apiVersion, so references written
// for another version of the API still count.
func controllingMydemo(obj metav1.Object) (cache.ObjectName, bool) {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != mydemoKind.Kind {
		return cache.ObjectName{}, false
	}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != mydemoKind.Group {
		return cache.ObjectName{}, false
	}
	return cache.ObjectName{Namespace: obj.GetNamespace(), Name: ref.Name}, true
}

// isControlledBy reports whether md is obj's controller: group, kind, name
// and UID.
func isControlledBy(obj metav1.Object, md *crddemov1.Mydemo) bool {
	owner, ok := controllingMydemo(obj)
	ref := metav1.GetControllerOfNoCopy(obj)
	return ok && owner.Name == md.Name && ref.UID == md.UID
}

// stripMydemo drops what the controller never reads from a cached Mydemo:
// managedFields, annotations and labels, which a tenant can make as large
// as the API server allows (hundreds of KB each). Events and owner
// references need only name, namespace, UID and resourceVersion.
func stripMydemo(obj any) (any, error) {
	if md, ok := obj.(*crddemov1.Mydemo); ok {
		md.ManagedFields = nil
		md.Annotations = nil
		md.Labels = nil
		return md, nil
	}
	return stripManagedFields(obj)
}
