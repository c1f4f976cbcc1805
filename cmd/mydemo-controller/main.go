// Command mydemo-controller runs the Mydemo controller: it publishes every
// Mydemo as a Service with an EndpointSlice and keeps the endpoint's
// readiness in step with a TCP probe.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"
	// Makes --logging-format=json available.
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/klog/v2"

	"github.com/crddemo/crddemo/pkg/version"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// Exit codes: 2 for bad flags (as pflag does), 1 for a failure to start or
// a lost lease, 0 after a clean shutdown.
func run(args []string) int {
	opts := newOptions()
	fs := pflag.NewFlagSet("mydemo-controller", pflag.ContinueOnError)
	opts.addFlags(fs)
	// A mistake gets one line, not a page of usage; --help gets the page.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(os.Stdout, "Usage of mydemo-controller:\n%s", fs.FlagUsages())
			return 0
		}
		fmt.Fprintf(os.Stderr, "mydemo-controller: %v (see --help)\n", err)
		return 2
	}
	if opts.version {
		fmt.Println("mydemo-controller", version.Version)
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mydemo-controller: unexpected arguments: %v\n", fs.Args())
		return 2
	}
	if err := opts.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "mydemo-controller: %v\n", err)
		return 2
	}
	if err := logsapi.ValidateAndApply(opts.logs, nil); err != nil {
		fmt.Fprintf(os.Stderr, "mydemo-controller: %v\n", err)
		return 2
	}
	defer klog.Flush()

	// The first SIGINT or SIGTERM starts a graceful shutdown; a second one
	// exits at once. This is what k8s.io/apiserver's SetupSignalContext
	// does, but importing it adds about 480 packages to the build for ten
	// lines; signal.NotifyContext has no second-signal exit, and this
	// version also flushes the log before exiting.
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-signals
		klog.InfoS("Shutting down on signal; send it again to exit at once", "signal", sig.String())
		cancel()
		<-signals
		klog.Flush()
		os.Exit(1)
	}()

	logger := klog.Background()
	ctx = klog.NewContext(ctx, logger)
	limit, source, err := applyMemoryLimit(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mydemo-controller: %v\n", err)
		return 2
	}
	logger.Info("Go memory limit", "bytes", limit, "from", source)
	if err := runController(ctx, opts); err != nil {
		logger.Error(err, "mydemo-controller failed")
		return 1
	}
	return 0
}
