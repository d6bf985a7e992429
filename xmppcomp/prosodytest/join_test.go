package prosodytest

import (
	"context"
	"encoding/xml"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Presences of other occupants that arrive while JoinRoom waits for its own must stay on
// Presences in arrival order: a bridge's stats presences are compared by age (counter values),
// and an older one re-queued behind a newer one made such tests fail under load.
func TestJoinRoomKeepsPresenceOrder(t *testing.T) {
	srv := Start(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	talker := DialFocus(t, srv)
	if err := talker.JoinRoom(ctx, Brewery, "talker"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	wg.Go(func() { // presences numbered 1, 2, 3, … as fast as prosody takes them
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			p := fmt.Sprintf("<presence xmlns='jabber:client' to='%s/talker'><status>%d</status></presence>", Brewery, n)
			if talker.Send(ctx, p) != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	for i := range 5 {
		f := DialFocus(t, srv)
		if err := f.JoinRoom(ctx, Brewery, "watcher"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		last, seen := 0, 0
		for seen < 20 {
			select {
			case st := <-f.Presences():
				if st.From != Brewery+"/talker" {
					continue
				}
				var p struct {
					Status string `xml:"status"`
				}
				if err := xml.Unmarshal([]byte(st.Raw), &p); err != nil {
					t.Fatal(err)
				}
				n, _ := strconv.Atoi(p.Status)
				if n <= last {
					t.Fatalf("watcher%d: presence %d after %d", i, n, last)
				}
				last = n
				seen++
			case <-ctx.Done():
				t.Fatalf("watcher%d: %d presences of talker seen", i, seen)
			}
		}
		f.Close()
	}
}
