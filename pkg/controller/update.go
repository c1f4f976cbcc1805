package controller

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	crddemov1 "github.com/crddemo/crddemo/pkg/apis/crddemo/v1"
)

// FieldManager names this controller in managedFields of what it writes.
const FieldManager = "crddemo-controller"

// Kinds of the objects remembered in recentWrites.
const (
	kindMydemo        = "Mydemo"
	kindService       = "Service"
	kindEndpointSlice = "EndpointSlice"
)

// This file holds every write the controller sends to the API server.
// Updates carry the resourceVersion read from the cache, so a stale cache
// gives a conflict instead of overwriting someone else's change; deletes
// carry the UID of the object judged, never touching one that replaced it.

// createService creates svc. If a Service of that name already exists (our
// cache did not show it: it is foreign, or lost our label), it returns that
// Service with created=false so the caller can judge it. base is the
// version the cache shows ("" for none; the old Service when replacing).
func (c *Controller) createService(ctx context.Context, owner cache.ObjectName, base string, svc *corev1.Service) (*corev1.Service, bool, error) {
	created, err := c.kubeClient.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		live, getErr := c.kubeClient.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
		return live, false, getErr
	}
	if err != nil {
		return nil, false, err
	}
	c.recent.remember(kindService, base, owner, created)
	klog.FromContext(ctx).V(2).Info("Created Service", "service", klog.KObj(created))
	return created, true, nil
}

func (c *Controller) updateService(ctx context.Context, owner cache.ObjectName, svc *corev1.Service) (*corev1.Service, error) {
	updated, err := c.kubeClient.CoreV1().Services(svc.Namespace).Update(ctx, svc, metav1.UpdateOptions{FieldManager: FieldManager})
	if err != nil {
		return nil, err
	}
	c.recent.remember(kindService, svc.ResourceVersion, owner, updated)
	klog.FromContext(ctx).V(2).Info("Updated Service", "service", klog.KObj(updated))
	return updated, nil
}

// deleteService deletes svc, but only the exact object we judged (UID
// precondition), never one that replaced it meanwhile.
func (c *Controller) deleteService(ctx context.Context, svc *corev1.Service) error {
	err := c.kubeClient.CoreV1().Services(svc.Namespace).Delete(ctx, svc.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &svc.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	c.recent.rememberDeleted(kindService, svc)
	klog.FromContext(ctx).V(2).Info("Deleted Service", "service", klog.KObj(svc))
	return nil
}

// createEndpointSlice is createService for EndpointSlices.
func (c *Controller) createEndpointSlice(ctx context.Context, owner cache.ObjectName, slice *discoveryv1.EndpointSlice) (*discoveryv1.EndpointSlice, bool, error) {
	client := c.kubeClient.DiscoveryV1().EndpointSlices(slice.Namespace)
	created, err := client.Create(ctx, slice, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		live, getErr := client.Get(ctx, slice.Name, metav1.GetOptions{})
		return live, false, getErr
	}
	if err != nil {
		return nil, false, err
	}
	c.recent.remember(kindEndpointSlice, "", owner, created)
	klog.FromContext(ctx).V(2).Info("Created EndpointSlice", "endpointSlice", klog.KObj(created), "endpoints", len(created.Endpoints))
	return created, true, nil
}

func (c *Controller) updateEndpointSlice(ctx context.Context, owner cache.ObjectName, slice *discoveryv1.EndpointSlice) error {
	updated, err := c.kubeClient.DiscoveryV1().EndpointSlices(slice.Namespace).Update(ctx, slice, metav1.UpdateOptions{FieldManager: FieldManager})
	if err != nil {
		return err
	}
	c.recent.remember(kindEndpointSlice, slice.ResourceVersion, owner, updated)
	klog.FromContext(ctx).V(2).Info("Updated EndpointSlice", "endpointSlice", klog.KObj(slice), "endpoints", len(slice.Endpoints))
	return nil
}

func (c *Controller) deleteEndpointSlice(ctx context.Context, slice *discoveryv1.EndpointSlice) error {
	err := c.kubeClient.DiscoveryV1().EndpointSlices(slice.Namespace).Delete(ctx, slice.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &slice.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	c.recent.rememberDeleted(kindEndpointSlice, slice)
	klog.FromContext(ctx).V(2).Info("Deleted EndpointSlice", "endpointSlice", klog.KObj(slice))
	return nil
}

// writeStatus writes md's status through the status subresource.
func (c *Controller) writeStatus(ctx context.Context, md *crddemov1.Mydemo) error {
	updated, err := c.mydemoClient.CrddemoV1().Mydemos(md.Namespace).UpdateStatus(ctx, md, metav1.UpdateOptions{FieldManager: FieldManager})
	if err != nil {
		return err
	}
	c.recent.remember(kindMydemo, md.ResourceVersion, cache.ObjectName{}, updated)
	return nil
}

// apiMessage is the API server's own words for err.
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}
