package config

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseHOCONSubset(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		env        map[string]string
		want       hObject
	}{
		{"root braces and separators", "{ a = 1, b : x\n c { d = true } }",
			nil, hObject{"a": hString("1"), "b": hString("x"), "c": hObject{"d": hBool(true)}}},
		{"dotted and quoted keys", "a.b.c = 1\n\"x.y\" = 2\na.b.d = null",
			nil, hObject{"a": hObject{"b": hObject{"c": hString("1"), "d": hNull{}}}, "x.y": hString("2")}},
		{"objects merge, scalars replace", "a { x = 1, y = 2 }\na { y = 3 }\nb = 1\nb = 2",
			nil, hObject{"a": hObject{"x": hString("1"), "y": hString("3")}, "b": hString("2")}},
		{"concatenation keeps inner spaces", "d = 5 seconds  # comment\nh = 0.0.0.0 // c",
			nil, hObject{"d": hString("5 seconds"), "h": hString("0.0.0.0")}},
		{"strings", "q = \"a\\tb\\u0041\"\nt = \"\"\"x\n\"y\"\"\"\"",
			nil, hObject{"q": hString("a\tbA"), "t": hString("x\n\"y\"")}},
		{"arrays", "a = [1, \"two\"\n {x = 3},]\nb += 4\nb += 5",
			nil, hObject{"a": hArray{hString("1"), hString("two"), hObject{"x": hString("3")}}, "b": hArray{hString("4"), hString("5")}}},
		{"substitutions", "a = 1\nb = ${a}\nc = ${a}-${?NOPE}x\nd = ${?NOPE}\ne = ${PW}\nf = { g = ${a} }\nh = ${f}",
			map[string]string{"PW": "secret"},
			hObject{"a": hString("1"), "b": hString("1"), "c": hString("1-x"), "e": hString("secret"),
				"f": hObject{"g": hString("1")}, "h": hObject{"g": hString("1")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHOCON(tc.text, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestParseHOCONErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"a = 1\nb = \"open\n", "line 2: unclosed string"},
		{"a = 1\n\nb = ${c}\n", "${c}: no such key"},
		{"a = ${b}\nb = ${a}\n", "refers to itself"},
		{"a { b = ${a} }\n", "refers to itself"},
		{"a = 1 b = 2\n", "line 1"},
		{"a = 1 }", "unexpected"},
		{"a = {x=1} \"s\"", "cannot concatenate"},
		{"= 1", "key was expected"},
		{"a = " + strings.Repeat("[", 100), "nested deeper"},
	} {
		_, err := parseHOCON(tc.text, envOf(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseHOCON(%q) = %v, want an error with %q", tc.text, err, tc.want)
		}
	}
}

// Values that double at every level end in an error, not in exponential time or memory.
func TestParseHOCONBoundsExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("v0 = \"xxxxxxxxxxxxxxxx\"\no0 = {a = 1, b = 2}\n")
	for i := 1; i < 64; i++ {
		b.WriteString("v" + strconv.Itoa(i) + " = ${v" + strconv.Itoa(i-1) + "}${v" + strconv.Itoa(i-1) + "}\n")
		b.WriteString("o" + strconv.Itoa(i) + " = {x = ${o" + strconv.Itoa(i-1) + "}, y = ${o" + strconv.Itoa(i-1) + "}}\n")
	}
	if _, err := parseHOCON(b.String(), envOf(nil)); err == nil {
		t.Fatal("a value of 2^64 bytes was accepted")
	}
}
