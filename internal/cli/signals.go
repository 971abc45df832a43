package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// exitOnSecondSignal exits the process with 130 at once on the second
// SIGINT or SIGTERM (the first one reaches the command through Main's
// context: serve starts its graceful shutdown, bench and lab stop and
// write what they gathered), after calling before if it is not nil (lab
// kills the servers it started). The returned function stops watching.
// serve, bench and lab all use it.
func exitOnSecondSignal(stderr io.Writer, before func()) (stop func()) {
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
					if before != nil {
						before()
					}
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
