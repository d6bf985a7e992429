package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file is a parser for the subset of HOCON that jvb.conf files use: objects (braces
// optional at the root), dotted and quoted keys, "=", ":" and "+=" separators (or none before
// "{"), arrays, quoted, triple-quoted and unquoted strings, value concatenation ("5 seconds"),
// "#" and "//" comments, duplicate keys merging objects, and ${path} / ${?path}
// substitutions resolved against the file and then the environment.
//
// It terminates on every input, which the library it replaces did not (it spun forever on an
// unclosed "${" in some positions): the parser reads one position forward and every loop
// either consumes at least one byte or returns; nesting is limited to maxNesting; resolving
// substitutions is memoised per path and every step of it, copies included, is paid for from
// a fixed budget, so self-referencing or exponentially growing values end in an error.

// hValue is a parsed HOCON value: hObject, hArray, hString, hBool or hNull once resolved;
// hSubst and hConcat only before resolution.
type hValue interface{ hocon() }

type (
	hObject map[string]hValue
	hArray  []hValue
	hString string
	hBool   bool
	hNull   struct{}
	hSubst  struct {
		path     string
		optional bool
	}
	hConcat []hValue // pieces of a concatenation; whitespace between them is hSpace
	hSpace  string
)

func (hObject) hocon() {}
func (hArray) hocon()  {}
func (hString) hocon() {}
func (hBool) hocon()   {}
func (hNull) hocon()   {}
func (hSubst) hocon()  {}
func (hConcat) hocon() {}
func (hSpace) hocon()  {}

const (
	maxNesting     = 64        // objects and arrays inside each other
	resolveBudget  = 1_000_000 // steps (values visited or copied) for substitutions
	maxValueLength = 1 << 20   // bytes of one concatenated string
)

// parseHOCON parses a whole file's text (includes already removed) and resolves its
// substitutions, looking up env for paths the file does not set.
func parseHOCON(text string, env Env) (hObject, error) {
	p := &hparser{s: text}
	p.skip(true)
	var root hObject
	var err error
	if p.i < len(p.s) && p.s[p.i] == '{' {
		p.i++
		root, err = p.object('}')
		if err == nil {
			p.skip(true)
			if p.i < len(p.s) {
				err = p.errorf("unexpected %q after the root object", p.s[p.i])
			}
		}
	} else {
		root, err = p.object(0)
	}
	if err != nil {
		return nil, err
	}
	r := &resolver{root: root, env: env, memo: map[string]hValue{}, visiting: map[string]bool{}, budget: resolveBudget}
	if _, _, err := r.resolve(root); err != nil {
		return nil, err
	}
	return root, nil
}

type hparser struct {
	s     string
	i     int
	depth int
}

func (p *hparser) errorf(format string, args ...any) error {
	line := 1 + strings.Count(p.s[:min(p.i, len(p.s))], "\n")
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

func (p *hparser) at(prefix string) bool { return strings.HasPrefix(p.s[p.i:], prefix) }

// skip consumes spaces, tabs, carriage returns and comments, and newlines too if newlines.
func (p *hparser) skip(newlines bool) {
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' && newlines:
			p.i++
		case c == '#' || p.at("//"):
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		default:
			return
		}
	}
}

// forbidden are the characters that end an unquoted string or key (HOCON spec).
const forbidden = "$\"{}[]:=,+#`^?!@*&\\"

func unquotedChar(c byte) bool {
	return !strings.ContainsRune(forbidden, rune(c)) && c != ' ' && c != '\t' && c != '\r' && c != '\n'
}

// object parses fields up to end ('}' or 0 for the root, which ends at end of input).
func (p *hparser) object(end byte) (hObject, error) {
	if p.depth++; p.depth > maxNesting {
		return nil, p.errorf("objects and arrays nested deeper than %d", maxNesting)
	}
	defer func() { p.depth-- }()
	obj := hObject{}
	for {
		p.skip(true)
		if p.i >= len(p.s) {
			if end != 0 {
				return nil, p.errorf("%q is never closed", '{')
			}
			return obj, nil
		}
		c := p.s[p.i]
		if end != 0 && c == end {
			p.i++
			return obj, nil
		}
		if c == ',' {
			p.i++
			continue
		}
		path, err := p.key()
		if err != nil {
			return nil, err
		}
		p.skip(false)
		add := false
		switch {
		case p.at("{"):
		case p.at("="), p.at(":"):
			p.i++
		case p.at("+="):
			p.i += 2
			add = true
		default:
			return nil, p.errorf("expected =, : or { after key %q", strings.Join(path, "."))
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		set(obj, path, v, add)
		p.skip(false)
		if p.i < len(p.s) && p.s[p.i] != '\n' && p.s[p.i] != ',' && (end == 0 || p.s[p.i] != end) {
			return nil, p.errorf("unexpected %q after the value of %q", p.s[p.i], strings.Join(path, "."))
		}
	}
}

// key parses a path of unquoted or quoted segments separated by dots.
func (p *hparser) key() ([]string, error) {
	var path []string
	for {
		switch {
		case p.at(`"""`):
			return nil, p.errorf("a key cannot be a triple-quoted string")
		case p.at(`"`):
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			path = append(path, s)
		default:
			start := p.i
			for p.i < len(p.s) && unquotedChar(p.s[p.i]) && p.s[p.i] != '.' && !p.at("//") {
				p.i++
			}
			if p.i == start {
				if p.i < len(p.s) {
					return nil, p.errorf("unexpected %q where a key was expected", p.s[p.i])
				}
				return nil, p.errorf("a key was expected at the end of the file")
			}
			path = append(path, p.s[start:p.i])
		}
		if !p.at(".") {
			return path, nil
		}
		p.i++
	}
}

// value parses a value, or the concatenation of several on one line.
func (p *hparser) value() (hValue, error) {
	p.skip(false)
	var pieces hConcat
	firstUnquoted := false // true, false and null are keywords when unquoted and alone
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '\n' || c == ',' || c == '}' || c == ']' || c == '#' || p.at("//") {
			break
		}
		var v hValue
		var err error
		unquoted := false
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			start := p.i
			for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
				p.i++
			}
			v = hSpace(p.s[start:p.i])
		case c == '{':
			p.i++
			v, err = p.object('}')
		case c == '[':
			p.i++
			v, err = p.array()
		case p.at(`"""`):
			v, err = p.tripleQuoted()
		case c == '"':
			var s string
			s, err = p.quoted()
			v = hString(s)
		case p.at("${"):
			v, err = p.substitution()
		default:
			start := p.i
			for p.i < len(p.s) && unquotedChar(p.s[p.i]) && !p.at("//") {
				p.i++
			}
			if p.i == start {
				return nil, p.errorf("unexpected %q in a value", c)
			}
			v, unquoted = hString(p.s[start:p.i]), true
		}
		if err != nil {
			return nil, err
		}
		if len(pieces) == 0 {
			firstUnquoted = unquoted
		}
		pieces = append(pieces, v)
	}
	for len(pieces) > 0 {
		if _, ws := pieces[len(pieces)-1].(hSpace); !ws {
			break
		}
		pieces = pieces[:len(pieces)-1]
	}
	switch len(pieces) {
	case 0:
		return nil, p.errorf("missing value")
	case 1:
		if firstUnquoted {
			switch pieces[0].(hString) {
			case "true":
				return hBool(true), nil
			case "false":
				return hBool(false), nil
			case "null":
				return hNull{}, nil
			}
		}
		return pieces[0], nil
	}
	return pieces, nil
}

func (p *hparser) array() (hArray, error) {
	if p.depth++; p.depth > maxNesting {
		return nil, p.errorf("objects and arrays nested deeper than %d", maxNesting)
	}
	defer func() { p.depth-- }()
	arr := hArray{}
	for {
		p.skip(true)
		if p.i >= len(p.s) {
			return nil, p.errorf("%q is never closed", '[')
		}
		if p.s[p.i] == ']' {
			p.i++
			return arr, nil
		}
		if p.s[p.i] == ',' && len(arr) > 0 {
			p.i++
			p.skip(true)
			if p.i < len(p.s) && p.s[p.i] == ']' {
				continue // a trailing comma
			}
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
}

// quoted parses a JSON-style string: escapes, no raw newline.
func (p *hparser) quoted() (string, error) {
	start := p.i
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return b.String(), nil
		case '\n':
			p.i = start
			return "", p.errorf("unclosed string")
		case '\\':
			if p.i+1 >= len(p.s) {
				p.i = start
				return "", p.errorf("unclosed string")
			}
			p.i++
			switch e := p.s[p.i]; e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if p.i+4 >= len(p.s) {
					return "", p.errorf("bad \\u escape")
				}
				n, err := strconv.ParseUint(p.s[p.i+1:p.i+5], 16, 16)
				if err != nil {
					return "", p.errorf("bad \\u escape %q", p.s[p.i-1:p.i+5])
				}
				b.WriteRune(rune(n))
				p.i += 4
			default:
				return "", p.errorf("bad escape \\%c in a string", e)
			}
			p.i++
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	p.i = start
	return "", p.errorf("unclosed string")
}

// tripleQuoted parses """...""": raw text; quotes right before the closing three belong to
// the string (""""a"""" is `"a"`).
func (p *hparser) tripleQuoted() (hString, error) {
	end := strings.Index(p.s[p.i+3:], `"""`)
	if end < 0 {
		return "", p.errorf(`unclosed """ string`)
	}
	j := p.i + 3 + end
	for j+3 < len(p.s) && p.s[j+3] == '"' {
		j++
	}
	s := p.s[p.i+3 : j]
	p.i = j + 3
	return hString(s), nil
}

func (p *hparser) substitution() (hValue, error) {
	p.i += 2
	optional := false
	if p.at("?") {
		optional = true
		p.i++
	}
	path, err := p.key()
	if err != nil {
		return nil, err
	}
	if !p.at("}") {
		return nil, p.errorf("substitution ${%s is not closed", strings.Join(path, "."))
	}
	p.i++
	return hSubst{path: strings.Join(path, "."), optional: optional}, nil
}

// set stores v at path in obj: objects merge with an object already there, += appends to an
// array, anything else replaces.
func set(obj hObject, path []string, v hValue, add bool) {
	for _, k := range path[:len(path)-1] {
		next, ok := obj[k].(hObject)
		if !ok {
			next = hObject{}
			obj[k] = next
		}
		obj = next
	}
	k := path[len(path)-1]
	old, exists := obj[k]
	switch {
	case add:
		if a, ok := old.(hArray); ok {
			obj[k] = append(a, v)
		} else {
			obj[k] = hArray{v}
		}
	case exists:
		oo, ok1 := old.(hObject)
		no, ok2 := v.(hObject)
		if ok1 && ok2 {
			merge(oo, no)
			return
		}
		obj[k] = v
	default:
		obj[k] = v
	}
}

// merge copies src into dst; objects merge key by key, anything else replaces.
func merge(dst, src hObject) {
	for k, v := range src {
		if so, ok := v.(hObject); ok {
			if do, ok := dst[k].(hObject); ok {
				merge(do, so)
				continue
			}
		}
		dst[k] = v
	}
}

type resolver struct {
	root     hObject
	env      Env
	memo     map[string]hValue
	visiting map[string]bool
	budget   int
}

var errBudget = errors.New("substitutions expand to more than the parser allows")

func (r *resolver) spend() error {
	if r.budget--; r.budget < 0 {
		return errBudget
	}
	return nil
}

// resolve returns v with its substitutions replaced; present is false for an optional
// substitution with nothing behind it (the field is then left out). Objects and arrays are
// resolved in place.
func (r *resolver) resolve(v hValue) (out hValue, present bool, err error) {
	if err := r.spend(); err != nil {
		return nil, false, err
	}
	switch x := v.(type) {
	case hObject:
		for k, e := range x {
			rv, ok, err := r.resolve(e)
			if err != nil {
				return nil, false, err
			}
			if ok {
				x[k] = rv
			} else {
				delete(x, k)
			}
		}
		return x, true, nil
	case hArray:
		kept := x[:0]
		for _, e := range x {
			rv, ok, err := r.resolve(e)
			if err != nil {
				return nil, false, err
			}
			if ok {
				kept = append(kept, rv)
			}
		}
		return kept, true, nil
	case hSubst:
		return r.substitute(x)
	case hConcat:
		return r.concat(x)
	}
	return v, true, nil
}

func (r *resolver) substitute(s hSubst) (hValue, bool, error) {
	if v, ok := r.memo[s.path]; ok {
		c, err := r.copy(v)
		return c, v != nil, err
	}
	if r.visiting[s.path] {
		return nil, false, fmt.Errorf("substitution ${%s} refers to itself", s.path)
	}
	var found hValue
	if raw, ok := lookupPath(r.root, s.path); ok {
		r.visiting[s.path] = true
		v, present, err := r.resolve(raw)
		delete(r.visiting, s.path)
		if err != nil {
			return nil, false, err
		}
		if present {
			found = v
		}
	}
	if found == nil && r.env != nil {
		if e, ok := r.env(s.path); ok {
			found = hString(e)
		}
	}
	if found == nil && !s.optional {
		return nil, false, fmt.Errorf("substitution ${%s}: no such key and no such environment variable", s.path)
	}
	r.memo[s.path] = found
	c, err := r.copy(found)
	return c, found != nil, err
}

// copy deep-copies objects and arrays, so that a substituted value is not shared.
func (r *resolver) copy(v hValue) (hValue, error) {
	if err := r.spend(); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case hObject:
		o := make(hObject, len(x))
		for k, e := range x {
			c, err := r.copy(e)
			if err != nil {
				return nil, err
			}
			o[k] = c
		}
		return o, nil
	case hArray:
		a := make(hArray, len(x))
		for i, e := range x {
			c, err := r.copy(e)
			if err != nil {
				return nil, err
			}
			a[i] = c
		}
		return a, nil
	}
	return v, nil
}

// concat joins resolved pieces: strings (whitespace between them kept), objects (merged) or
// arrays (appended), not a mix.
func (r *resolver) concat(pieces hConcat) (hValue, bool, error) {
	var vals []hValue
	for _, pc := range pieces {
		v, ok, err := r.resolve(pc)
		if err != nil {
			return nil, false, err
		}
		if ok {
			vals = append(vals, v)
		}
	}
	var objs, arrs, strs int
	for _, v := range vals {
		switch v.(type) {
		case hObject:
			objs++
		case hArray:
			arrs++
		case hSpace:
		default:
			strs++
		}
	}
	switch {
	case objs+arrs+strs == 0:
		return nil, false, nil
	case objs > 0 && arrs+strs == 0:
		o := hObject{}
		for _, v := range vals {
			if vo, ok := v.(hObject); ok {
				merge(o, vo)
			}
		}
		return o, true, nil
	case arrs > 0 && objs+strs == 0:
		var a hArray
		for _, v := range vals {
			if va, ok := v.(hArray); ok {
				if len(a)+len(va) > maxValueLength {
					return nil, false, errBudget
				}
				a = append(a, va...)
			}
		}
		return a, true, nil
	case objs+arrs > 0:
		return nil, false, errors.New("cannot concatenate objects or arrays with strings")
	}
	var b strings.Builder
	for _, v := range vals {
		s := text(v)
		if b.Len()+len(s) > maxValueLength {
			return nil, false, errBudget
		}
		b.WriteString(s)
	}
	return hString(strings.TrimSpace(b.String())), true, nil
}

func lookupPath(root hObject, path string) (hValue, bool) {
	var cur hValue = root
	for part := range strings.SplitSeq(path, ".") {
		o, ok := cur.(hObject)
		if !ok {
			return nil, false
		}
		if cur, ok = o[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// text is a value as the operator wrote it, without quotes.
func text(v hValue) string {
	switch x := v.(type) {
	case nil:
		return ""
	case hString:
		return string(x)
	case hSpace:
		return string(x)
	case hBool:
		return strconv.FormatBool(bool(x))
	case hNull:
		return "null"
	case hArray:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = strconv.Quote(text(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case hObject:
		return "{...}"
	}
	return fmt.Sprint(v)
}
