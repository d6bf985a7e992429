//go:build !linux

package bench

import (
	"net"
	"syscall"
	"time"
)

// Off Linux the load generator builds and runs, but without per-thread and per-process CPU
// clocks its CPU figures read 0 (the bridge's own /metrics are used where they exist).

func threadID() int32 { return 0 }

func threadCPU(int32) time.Duration { return 0 }

func processCPU(int) (time.Duration, bool) { return 0, false }

func selfCPU() time.Duration { return 0 }

// enableRxTimestamps is Linux-only: elsewhere latency is taken when the reader gets a batch.
func enableRxTimestamps(*net.UDPConn) bool { return false }

func rxTimestamp([]byte) (int64, bool) { return 0, false }

// stopWithParent has no equivalent off Linux: the bridge is stopped by BridgeProcess.Stop.
func stopWithParent() *syscall.SysProcAttr { return nil }
