package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"gojvb/cmd/jvb/internal/config"
)

// localParticipants is graceful_shutdown.sh's getParticipantCount:
// curl $host/colibri/stats | jq '.participants - .octo_endpoints'.
func (b *bridge) localParticipants(t *testing.T) (int, bool) {
	t.Helper()
	resp, err := http.Get(b.base + "/colibri/stats")
	if err != nil {
		return 0, false // the bridge is gone: the script then waits for the process to end
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("/colibri/stats is not JSON: %v", err)
	}
	p, ok1 := st["participants"].(float64)
	o, ok2 := st["octo_endpoints"].(float64)
	if !ok1 || !ok2 {
		t.Fatalf("jq would compute null: participants=%v octo_endpoints=%v", st["participants"], st["octo_endpoints"])
	}
	return int(p - o), true
}

// TestJVBGracefulShutdownScript follows JVB's resources/graceful_shutdown.sh against the
// bridge: POST {"graceful-shutdown": "true"} (a string) and expect 200, then poll participants
// minus octo endpoints until 0 (participants leaving meanwhile, as jicofo moves them), then the
// bridge process exits 0 by itself.
func TestJVBGracefulShutdownScript(t *testing.T) {
	b := startBridge(t, restEnv, func(c *config.Config) {
		fastStats(c)
		c.Shutdown.ShuttingDownDelay = time.Hour // exit because nobody is left, not by timeout
	})
	ids := []string{"a", "b", "c"}
	if code, body := b.createEndpoints(t, "m1", ids...); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	b.stats(t, func(m map[string]any) bool { return m["participants"] == float64(len(ids)) })

	// curl -s -o /dev/null -H "Content-Type: application/json" -d '{ "graceful-shutdown": "true" }'
	req, err := http.NewRequest("POST", b.base+"/colibri/shutdown", strings.NewReader(`{ "graceful-shutdown": "true" }`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("shutdown status %d: graceful_shutdown.sh would exit 1", resp.StatusCode)
	}

	deadline := time.Now().Add(15 * time.Second)
	left := len(ids)
	for {
		n, up := b.localParticipants(t)
		if !up || n == 0 {
			break
		}
		if n > len(ids) {
			t.Fatalf("participants - octo_endpoints = %d with %d endpoints created", n, len(ids))
		}
		// The stats are regenerated every interval: act only once the count caught up.
		if n == left && left > 0 { // one more participant moves away
			left--
			if code, body := b.do(t, "POST", "/colibri/v2/conferences", expireEndpoint("m1", ids[left])); code != 200 {
				t.Fatalf("expire: %d %s", code, body)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("participants - octo_endpoints still %d", n)
		}
		time.Sleep(20 * time.Millisecond) // the script's poll interval (10 s there)
	}
	if left != 0 {
		t.Fatalf("the count reached 0 with %d endpoints still in the conference", left)
	}
	// The script then waits for the process to end.
	if code := b.waitExit(t, 10*time.Second); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
}
