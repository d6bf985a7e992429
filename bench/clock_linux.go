package bench

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// threadID is the calling OS thread's id (the caller has locked its goroutine to it).
func threadID() int32 { return int32(unix.Gettid()) }

// threadCPU is thread tid's CPU time so far (0 if it cannot be read).
func threadCPU(tid int32) time.Duration {
	var ts unix.Timespec
	clk := int32((^int(tid))<<3 | 6) // MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)
	if err := unix.ClockGettime(clk, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// processCPU is process pid's CPU time so far, from its CPU clock (ns resolution).
func processCPU(pid int) (time.Duration, bool) {
	var ts unix.Timespec
	clk := int32((^pid)<<3 | 2) // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
	if err := unix.ClockGettime(clk, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// selfCPU is this process's CPU time (the load generator).
func selfCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// stopWithParent makes the kernel send the bridge SIGTERM when the load generator dies.
func stopWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
