package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// exitOnSecondSignal exits the process at once on the second SIGINT or
// SIGTERM (the first one reaches serve through Main's context and starts
// the graceful shutdown). The returned function stops watching.
func exitOnSecondSignal(stderr io.Writer) (stop func()) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for n := 0; ; {
			select {
			case <-sig:
				if n++; n == 2 {
					fmt.Fprintln(stderr, "hotpath: second signal, exiting now")
					os.Exit(130)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		<-exited
	}
}
