package channel

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// checkDepth rejects input nesting objects/arrays deeper than MaxDepth, in one pass over the
// bytes that skips string contents, without decoding anything.
func checkDepth(data []byte) error {
	depth := 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return ErrTooDeep
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at data[i] == '"'.
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(data)
}

// skipValue returns the index just past the JSON value starting at data[i]. The input must
// already be valid JSON.
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(data) {
			switch c := data[i]; {
			case c == ',' || c == '}' || c == ']' || isSpace(c):
				return i
			}
			i++
		}
		return i
	}
}

// member is one top-level "key": value pair of an object; key includes its quotes and
// start/end span the whole pair.
type member struct {
	key, val   []byte
	start, end int
}

// forEachMember calls fn for each top-level member of data, which must be valid JSON. It
// reports false if data is not an object.
func forEachMember(data []byte, fn func(m member)) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] == '"' {
		start := i
		keyEnd := skipString(data, i)
		i = skipSpace(data, keyEnd) + 1 // ':'
		i = skipSpace(data, i)
		valStart := i
		i = skipValue(data, i)
		fn(member{key: data[start:keyEnd], val: data[valStart:i], start: start, end: i})
		i = skipSpace(data, i)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return true
}

// maxKeyLen bounds the decoded key names this package compares against ("colibriClass").
const maxKeyLen = 16

// keyName returns the decoded name of a quoted key (quotes included), without allocating:
// buf holds the result when the key has escapes. ok is false when the decoded name would be
// longer than maxKeyLen bytes, which no name compared here is.
func keyName(quoted []byte, buf *[maxKeyLen]byte) (name []byte, ok bool) {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, len(inner) <= maxKeyLen
	}
	out := buf[:0]
	for i := 0; i < len(inner); {
		c := inner[i]
		if c != '\\' {
			if len(out) == maxKeyLen {
				return nil, false
			}
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(inner) {
			return nil, false
		}
		var r rune
		switch e := inner[i+1]; e {
		case 'u':
			r = hex4(inner, i+2)
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+1 < len(inner) && inner[i] == '\\' && inner[i+1] == 'u' {
					r2 = hex4(inner, i+2)
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
		case 'b':
			r, i = '\b', i+2
		case 'f':
			r, i = '\f', i+2
		case 'n':
			r, i = '\n', i+2
		case 'r':
			r, i = '\r', i+2
		case 't':
			r, i = '\t', i+2
		default: // '"', '\\', '/'
			r, i = rune(e), i+2
		}
		if r < 0 || len(out)+utf8.RuneLen(r) > maxKeyLen {
			return nil, false
		}
		out = utf8.AppendRune(out, r)
	}
	return out, true
}

// hex4 decodes the four hex digits at data[i:]; -1 if they are missing or invalid.
func hex4(data []byte, i int) rune {
	if i+4 > len(data) {
		return -1
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// keyIs reports whether the quoted key decodes to exactly name.
func keyIs(quoted []byte, name string) bool {
	var buf [maxKeyLen]byte
	got, ok := keyName(quoted, &buf)
	return ok && string(got) == name
}

// keyFold reports whether the quoted key decodes to name under Unicode case folding (the
// matching encoding/json uses for struct fields).
func keyFold(quoted []byte, name string) bool {
	var buf [maxKeyLen]byte
	got, ok := keyName(quoted, &buf)
	return ok && bytes.EqualFold(got, []byte(name))
}
