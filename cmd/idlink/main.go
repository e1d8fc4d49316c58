// Command idlink links Microsoft Entra ID identities to the Salesforce
// accounts Entra provisioned. main only wires signals to Run and Run's result
// to the exit code; each subcommand lives in its own file.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
