package lab

import "os/exec"

// execLookPath is exec.LookPath; a variable so tests can simulate PATH.
var execLookPath = exec.LookPath
