package channel

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsNoModulePackages pins the package doc's rule: this package sits below sfu/ and
// imports nothing of gojvb.
func TestImportsNoModulePackages(t *testing.T) {
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Imports) == 0 {
		t.Fatal("no imports found; is the directory right?")
	}
	for _, imp := range p.Imports {
		if imp == "gojvb" || strings.HasPrefix(imp, "gojvb/") {
			t.Errorf("imports %s", imp)
		}
	}
}
