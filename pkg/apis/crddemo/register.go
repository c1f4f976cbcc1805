// Package crddemo holds the API group name shared by every version of the
// crddemo API.
package crddemo

// GroupName is the API group of Mydemo. It ends in k8s.io, a group protected
// by the API server, so the CRD carries the api-approved.kubernetes.io
// annotation.
const GroupName = "crddemo.k8s.io"
