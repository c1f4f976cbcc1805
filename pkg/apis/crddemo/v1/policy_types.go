package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AddressPolicy lets the Mydemos of the namespaces it selects publish, and
// have probed, addresses in its ranges. It is cluster-scoped and meant to
// be written only by cluster admins.
//
// Without any AddressPolicy, every address outside the cluster's own
// networks may be published. Once one exists, an endpoint address of a
// Mydemo must be in the cidrs of some AddressPolicy whose namespaceSelector
// selects the Mydemo's namespace. The cluster's own networks (Service and
// Pod CIDRs, Node addresses, the API server's endpoints) and cloud metadata
// addresses are refused whatever the policies say.
//
// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=addresspolicies,singular=addresspolicy,scope=Cluster,shortName=mdap,categories=crddemo
// +kubebuilder:printcolumn:name="CIDRs",type=string,JSONPath=`.spec.cidrs`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:metadata:annotations="api-approved.kubernetes.io=unapproved, experimental-only"
type AddressPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says which namespaces may publish which ranges.
	// +required
	Spec AddressPolicySpec `json:"spec"`
}

// AddressPolicySpec is the rule of an AddressPolicy.
type AddressPolicySpec struct {
	// namespaceSelector selects the namespaces whose Mydemos may publish
	// the ranges in cidrs, by the namespaces' labels. An empty selector
	// ({}) selects every namespace.
	// +required
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="namespaceSelector.matchExpressions[].operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn']) == (has(e.values) && e.values.size() > 0))",message="namespaceSelector.matchExpressions[].values must be set for In and NotIn, and only for them"
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`

	// cidrs are the allowed ranges, such as "198.51.100.0/24" or
	// "2001:db8:1::/48"; one address is written as a /32 or /128.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",message="every entry of cidrs must be a CIDR such as 198.51.100.0/24 or 2001:db8::/48"
	// +kubebuilder:validation:XValidation:rule="self.all(c, !isCIDR(c) || cidr(c) == cidr(c).masked())",message="an entry of cidrs has bits set past its prefix length; write the network address (for example 198.51.100.0/24, not 198.51.100.7/24)"
	CIDRs []string `json:"cidrs"`
}

// AddressPolicyList is a list of AddressPolicies.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type AddressPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// items are the AddressPolicies.
	Items []AddressPolicy `json:"items"`
}
