package main

import (
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestPackageImportRules checks the "must never import" sentences of the package docs against
// the packages' (non-test) imports, directly or through other packages of this module.
func TestPackageImportRules(t *testing.T) {
	for _, r := range []struct {
		pkg       string
		forbidden []string // module packages (and their sub-packages) pkg must not reach
		allowed   []string // exceptions inside forbidden trees
	}{
		{pkg: "gojvb/colibri", forbidden: []string{"gojvb/xmppcomp", "gojvb/cmd"}},
		{pkg: "gojvb/xmppcomp", forbidden: []string{"gojvb/sfu", "gojvb/colibri", "gojvb/cmd"}},
		{pkg: "gojvb/cmd/jvb/internal/config", forbidden: []string{"gojvb/sfu", "gojvb/colibri", "gojvb/xmppcomp"}},
		{pkg: "gojvb/cmd/jvb/internal/httpapi", forbidden: []string{"gojvb/sfu", "gojvb/xmppcomp"}},
		{pkg: "gojvb/cmd/jvb/internal/shutdown", forbidden: []string{"gojvb/sfu", "gojvb/colibri", "gojvb/xmppcomp"}},
		{pkg: "gojvb/cmd/jvb/internal/colibriws", forbidden: []string{"gojvb/colibri", "gojvb/xmppcomp"}},
		{pkg: "gojvb/cmd/jvb/internal/stats", forbidden: []string{"gojvb/colibri", "gojvb/xmppcomp", "gojvb/cmd/jvb/internal/httpapi"}},
		{pkg: "gojvb/cmd/jvb/internal/standalone", forbidden: []string{"gojvb/sfu", "gojvb/xmppcomp"},
			allowed: []string{"gojvb/sfu/transport"}},
		{pkg: "gojvb/cmd/jvb", forbidden: []string{"gojvb/xmppcomp/prosodytest"}},
		// The media core's pure-logic packages: sfu imports them, never the reverse. bwe,
		// sfu/channel and sfu/speech import no package of this module at all ("gojvb" is the
		// whole module); simulcast only stays out of the media core and the control plane.
		{pkg: "gojvb/sfu/channel", forbidden: []string{"gojvb"}},
		{pkg: "gojvb/sfu/speech", forbidden: []string{"gojvb"}},
		{pkg: "gojvb/bwe", forbidden: []string{"gojvb"}},
		{pkg: "gojvb/simulcast", forbidden: []string{"gojvb/sfu", "gojvb/colibri", "gojvb/xmppcomp", "gojvb/cmd"}},
	} {
		reached := moduleDeps(t, r.pkg)
		if r.pkg == "gojvb/cmd/jvb/internal/standalone" {
			// Only the plain transport description types: nothing that pulls in the media core.
			reached = directModuleImports(t, r.pkg)
		}
		for _, dep := range reached {
			if f, bad := forbiddenBy(r.pkg, dep, r.forbidden, r.allowed); bad {
				t.Errorf("%s imports %s (via the module's packages); its package doc forbids %s", r.pkg, dep, f)
			}
		}
	}
}

// forbiddenBy reports which rule of forbidden (a package and its sub-packages) dep breaks for
// pkg. pkg itself and the allowed exceptions never break a rule, so gojvb/sfu/channel may be
// told to stay out of gojvb/sfu without flagging its own path.
func forbiddenBy(pkg, dep string, forbidden, allowed []string) (string, bool) {
	if dep == pkg || slices.Contains(allowed, dep) {
		return "", false
	}
	for _, f := range forbidden {
		if dep == f || strings.HasPrefix(dep, f+"/") {
			return f, true
		}
	}
	return "", false
}

func TestForbiddenByMatchesWholePathSegments(t *testing.T) {
	for _, c := range []struct {
		pkg, dep  string
		forbidden []string
		allowed   []string
		want      bool
	}{
		{pkg: "gojvb/sfu/channel", dep: "gojvb/sfu", forbidden: []string{"gojvb/sfu"}, want: true},
		{pkg: "gojvb/sfu/channel", dep: "gojvb/sfu/transport", forbidden: []string{"gojvb/sfu"}, want: true},
		{pkg: "gojvb/sfu/channel", dep: "gojvb/sfu/channel", forbidden: []string{"gojvb/sfu"}, want: false},
		{pkg: "gojvb/simulcast", dep: "gojvb/sfux", forbidden: []string{"gojvb/sfu"}, want: false},
		{pkg: "gojvb/bwe", dep: "gojvb/simulcast", forbidden: []string{"gojvb"}, want: true},
		{pkg: "gojvb/bwe", dep: "gojvbx/a", forbidden: []string{"gojvb"}, want: false},
		{pkg: "x", dep: "gojvb/sfu/transport", forbidden: []string{"gojvb/sfu"}, allowed: []string{"gojvb/sfu/transport"}, want: false},
	} {
		if _, got := forbiddenBy(c.pkg, c.dep, c.forbidden, c.allowed); got != c.want {
			t.Errorf("forbiddenBy(%s, %s, %v, %v) = %v, want %v", c.pkg, c.dep, c.forbidden, c.allowed, got, c.want)
		}
	}
}

// TestOnlySFUAdapterImportsSFU: colibri reaches the media core only through sfuadapter.go.
func TestOnlySFUAdapterImportsSFU(t *testing.T) {
	p := importDir(t, "gojvb/colibri")
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			if (imp == "gojvb/sfu" || strings.HasPrefix(imp, "gojvb/sfu/")) && name != "sfuadapter.go" {
				t.Errorf("colibri/%s imports %s; only sfuadapter.go may", name, imp)
			}
		}
	}
}

// moduleRoot is the repository root, two levels above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func importDir(t *testing.T, pkg string) *build.Package {
	t.Helper()
	dir := filepath.Join(moduleRoot(t), strings.TrimPrefix(pkg, "gojvb/"))
	p, err := build.ImportDir(dir, 0)
	if err != nil {
		t.Fatalf("%s: %v", pkg, err)
	}
	return p
}

func directModuleImports(t *testing.T, pkg string) []string {
	t.Helper()
	var out []string
	for _, imp := range importDir(t, pkg).Imports {
		if strings.HasPrefix(imp, "gojvb/") {
			out = append(out, imp)
		}
	}
	return out
}

// moduleDeps lists the module packages pkg imports, directly or transitively.
func moduleDeps(t *testing.T, pkg string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, imp := range directModuleImports(t, p) {
			if !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(pkg)
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
