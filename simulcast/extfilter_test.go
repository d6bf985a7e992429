package simulcast

import (
	"bytes"
	"testing"
)

func TestKeepExtensionsPadsOutTheOthers(t *testing.T) {
	// One-byte block: id 1 (1 byte), id 3 (2 bytes), id 5 (2 bytes), padding.
	pkt := []byte{0x90, 100, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9,
		0xbe, 0xde, 0, 3,
		0x10, 0xaa, 0x31, 0xbb, 0xcc, 0x51, 0x01, 0x02, 0, 0, 0, 0,
		0xde, 0xad}
	h, ok := ParseRTP(pkt)
	if !ok {
		t.Fatal("parse")
	}
	var keep ExtensionSet
	keep.Add(1)
	keep.Add(5)
	if !KeepExtensions(pkt, &h, &keep) {
		t.Fatal("KeepExtensions refused a valid block")
	}
	if got := Extension(pkt, &h, 3); got != nil {
		t.Errorf("id 3 still there: %x", got)
	}
	if got := Extension(pkt, &h, 1); !bytes.Equal(got, []byte{0xaa}) {
		t.Errorf("id 1 = %x", got)
	}
	if got := Extension(pkt, &h, 5); !bytes.Equal(got, []byte{1, 2}) {
		t.Errorf("id 5 = %x", got)
	}
	if !bytes.Equal(pkt[len(pkt)-2:], []byte{0xde, 0xad}) {
		t.Error("payload moved")
	}
}

func TestKeepExtensionsLeavesAMalformedBlockAlone(t *testing.T) {
	pkt := []byte{0x90, 100, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9,
		0xbe, 0xde, 0, 1,
		0x10, 0xaa, 0x3f, 0xbb} // id 3 claims 16 bytes
	h, ok := ParseRTP(pkt)
	if !ok {
		t.Skip("the parser already refuses it")
	}
	before := bytes.Clone(pkt)
	var keep ExtensionSet
	if KeepExtensions(pkt, &h, &keep) || !bytes.Equal(pkt, before) {
		t.Error("malformed block changed or accepted")
	}
}

func FuzzKeepExtensions(f *testing.F) {
	f.Add([]byte{0x90, 100, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0}, uint8(1))
	f.Add([]byte{0x90, 100, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0x10, 0x00, 0, 1, 7, 1, 0xaa, 0}, uint8(7))
	f.Fuzz(func(t *testing.T, pkt []byte, id uint8) {
		h, ok := ParseRTP(pkt)
		if !ok {
			return
		}
		want := Extension(pkt, &h, id)
		wantCopy := bytes.Clone(want)
		n := len(pkt)
		var keep ExtensionSet
		keep.Add(id)
		if KeepExtensions(pkt, &h, &keep) && want != nil && !bytes.Equal(Extension(pkt, &h, id), wantCopy) {
			t.Fatalf("kept extension %d changed", id)
		}
		if len(pkt) != n {
			t.Fatal("size changed")
		}
	})
}
