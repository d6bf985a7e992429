package bench

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
	"unsafe"

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

// enableRxTimestamps asks the kernel to stamp every datagram c receives with its arrival time
// (SO_TIMESTAMPNS), so latency does not include the load generator's own scheduling delay.
func enableRxTimestamps(c *net.UDPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return false
	}
	return serr == nil
}

// rxTimestamp finds the kernel's arrival time (Unix ns) in a datagram's control messages. It
// walks them in place (unix.ParseSocketControlMessage allocates), as it runs for every packet.
func rxTimestamp(oob []byte) (int64, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < unix.SizeofCmsghdr || n > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS {
			switch d := oob[unix.CmsgLen(0):n]; {
			case len(d) >= 16: // 64-bit time_t and long
				return int64(binary.NativeEndian.Uint64(d[0:8]))*1e9 + int64(binary.NativeEndian.Uint64(d[8:16])), true
			case len(d) >= 8:
				return int64(int32(binary.NativeEndian.Uint32(d[0:4])))*1e9 + int64(int32(binary.NativeEndian.Uint32(d[4:8]))), true
			}
			return 0, false
		}
		oob = oob[min(unix.CmsgSpace(n-unix.CmsgLen(0)), len(oob)):]
	}
	return 0, false
}

// stopWithParent makes the kernel send the bridge SIGTERM when the load generator dies.
func stopWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
