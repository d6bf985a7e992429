package main

import (
	"slices"
	"strings"
	"testing"

	"gojvb/cmd/jvb/internal/config"
)

// TestMigrationTableListsEveryImageVariable: every variable the loader reads or knowingly
// ignores (besides gojvb's own) has a row in docs/operators.md's table of jitsi/jvb variables.
func TestMigrationTableListsEveryImageVariable(t *testing.T) {
	doc := readRepoFile(t, "../../docs/operators.md")
	_, table, ok := strings.Cut(doc, "### Every jitsi/jvb variable")
	if !ok {
		t.Fatal("no migration table in docs/operators.md")
	}
	if i := strings.Index(table, "\n## "); i >= 0 {
		table = table[:i]
	}
	own := []string{"JVB_REQUIRE_XMPP", "JVB_CONFIG", "JVB_MAX_CONFERENCES", "JVB_MAX_ENDPOINTS",
		"JVB_MAX_ENDPOINTS_PER_CONFERENCE", "JVB_STANDALONE_HOSTS"}
	for _, name := range config.KnownEnv() {
		if !slices.Contains(own, name) && !strings.Contains(table, "`"+name+"`") {
			t.Errorf("%s is not in the table of jitsi/jvb variables", name)
		}
	}
}
