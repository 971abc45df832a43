package doctor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hotpath-dev/hotpath/doctor"
)

// Diagnose the service whose admin listener is on 127.0.0.1:6060 and print
// the text report; a CI job could instead fail on rep.Goroutines.Suspects.
// (Not run by go test: it needs a live target.)
func ExampleRun() {
	rep, err := doctor.Run(context.Background(), doctor.Config{
		Admin:    "http://127.0.0.1:6060",
		Token:    os.Getenv("HOTPATH_ADMIN_TOKEN"),
		CPU:      5 * time.Second,
		Interval: 10 * time.Second,
		OutDir:   "profiles",
	})
	switch {
	case errors.Is(err, doctor.ErrUnreachable):
		fmt.Println("is the service running, with its admin listener on?")
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	if err := doctor.WriteText(os.Stdout, rep); err != nil {
		fmt.Println(err)
	}
	for _, s := range rep.Goroutines.Suspects {
		fmt.Printf("leak: %s %+d\n", s.UserFrame.Function, s.Growth)
	}
}
