package prosodytest

import "syscall"

// dieWithParent makes the kernel kill prosody when the test process dies, so that a killed
// test run leaves no prosody behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
