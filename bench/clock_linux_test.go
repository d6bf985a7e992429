package bench

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cmsg appends one control message (level, typ, data) to b, padded as the kernel does.
func cmsg(b []byte, level, typ int32, data []byte) []byte {
	sp := unix.CmsgSpace(len(data))
	m := make([]byte, sp)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&m[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(m[unix.CmsgLen(0):], data)
	return append(b, m...)
}

func TestRxTimestampFindsTheStampAmongOtherMessagesWithoutAllocating(t *testing.T) {
	ts := make([]byte, 16)
	binary.NativeEndian.PutUint64(ts[0:8], 1_700_000_000)
	binary.NativeEndian.PutUint64(ts[8:16], 123_456_789)
	oob := cmsg(nil, unix.SOL_IP, unix.IP_TOS, []byte{0x2e})
	oob = cmsg(oob, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts)
	at, ok := rxTimestamp(oob)
	if want := int64(1_700_000_000_123_456_789); !ok || at != want {
		t.Fatalf("rxTimestamp = %d, %v; want %d, true", at, ok, want)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = rxTimestamp(oob) }); n != 0 {
		t.Fatalf("rxTimestamp allocates %.0f times", n)
	}
	for _, bad := range [][]byte{nil, oob[:10], oob[:unix.CmsgSpace(1)+4], cmsg(nil, unix.SOL_IP, unix.IP_TOS, []byte{1})} {
		if at, ok := rxTimestamp(bad); ok {
			t.Fatalf("rxTimestamp(%x) = %d, want none", bad, at)
		}
	}
	// a header claiming more than the buffer holds
	broken := append([]byte(nil), oob...)
	(*unix.Cmsghdr)(unsafe.Pointer(&broken[0])).SetLen(len(broken) + 1)
	if _, ok := rxTimestamp(broken); ok {
		t.Fatal("rxTimestamp read past a control message's claimed length")
	}
}
