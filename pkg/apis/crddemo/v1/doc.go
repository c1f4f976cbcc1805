// Package v1 is version v1 of the crddemo.k8s.io API: the Mydemo resource.
//
// +k8s:deepcopy-gen=package
// +groupName=crddemo.k8s.io
package v1
