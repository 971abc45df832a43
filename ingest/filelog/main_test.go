package filelog

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir)) // the child process of TestCrash
	}
	if dir := os.Getenv(fsizeChildEnv); dir != "" {
		os.Exit(fsizeChild(dir)) // the child process of TestFileSizeLimit
	}
	goleak.VerifyTestMain(m)
}
