//go:build !linux

package prosodytest

import "syscall"

// dieWithParent has no equivalent off Linux: prosody is stopped by Stop (and t.Cleanup) only.
func dieWithParent() *syscall.SysProcAttr { return nil }
