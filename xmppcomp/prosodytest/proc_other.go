//go:build !linux

package prosodytest

import (
	"os"
	"syscall"
)

// Freeze and Thaw are not supported off Linux (prosody tests run on Linux).
var sigStop, sigCont os.Signal

// dieWithParent has no equivalent off Linux: prosody is stopped by Stop (and t.Cleanup) only.
func dieWithParent() *syscall.SysProcAttr { return nil }
