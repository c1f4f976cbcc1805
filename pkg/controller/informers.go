package controller

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

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
		crddemoinformers.WithTransform(stripManagedFields),
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

// controllingMydemo is the key of the Mydemo that controls obj, if any.
func controllingMydemo(obj metav1.Object) (cache.ObjectName, bool) {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != mydemoKind.Kind || ref.APIVersion != mydemoKind.GroupVersion().String() {
		return cache.ObjectName{}, false
	}
	return cache.ObjectName{Namespace: obj.GetNamespace(), Name: ref.Name}, true
}
