// Package version holds the build version of the controller.
package version

// Version is set at build time with
// -ldflags "-X github.com/crddemo/crddemo/pkg/version.Version=v1.2.3".
var Version = "v0.0.0-dev"
