package main

import (
	"regexp"
	"strings"
	"testing"
)

// expandBraces expands shell-style {a,b} groups: "x_{a,b}_{c,d}" -> x_a_c, x_a_d, x_b_c, x_b_d.
func expandBraces(s string) []string {
	i := strings.IndexByte(s, '{')
	if i < 0 {
		return []string{s}
	}
	j := strings.IndexByte(s[i:], '}')
	if j < 0 {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(s[i+1:i+j], ",") {
		for _, rest := range expandBraces(s[i+j+1:]) {
			out = append(out, s[:i]+alt+rest)
		}
	}
	return out
}

// TestOperatorsGuideListsEveryMetric: every jitsi_jvb_* family a running bridge exposes is
// named in the Metrics section of docs/operators.md (JVB's names and gojvb's own).
func TestOperatorsGuideListsEveryMetric(t *testing.T) {
	doc := readRepoFile(t, "../../docs/operators.md")
	start := strings.Index(doc, "### Metrics")
	end := strings.Index(doc[start+1:], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("no Metrics section in docs/operators.md")
	}
	section := doc[start : start+1+end]
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z_{},]+)`").FindAllStringSubmatch(section, -1) {
		tok := m[1]
		listed[regexp.MustCompile(`\{[a-z_,]*\}$`).ReplaceAllString(tok, "")] = true
		for _, e := range expandBraces(tok) {
			listed[e] = true
		}
	}
	fams := startBridge(t, map[string]string{"JVB_ADVERTISE_IPS": "192.0.2.1", "ENABLE_OCTO": "1", "JVB_OCTO_REGION": "r1"}, nil).metrics(t)
	n := 0
	for name := range fams {
		short, ok := strings.CutPrefix(name, "jitsi_jvb_")
		if !ok {
			continue
		}
		n++
		if !listed[short] {
			t.Errorf("%s is not listed in docs/operators.md's Metrics section", name)
		}
	}
	if n < 40 {
		t.Fatalf("only %d jitsi_jvb_* families exposed", n)
	}
}
