package prosodytest

import (
	"os"
	"syscall"
)

// Freeze and Thaw stop and resume prosody with these signals.
var sigStop, sigCont os.Signal = syscall.SIGSTOP, syscall.SIGCONT

// dieWithParent makes the kernel kill prosody when the test process dies, so that a killed
// test run leaves no prosody behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
