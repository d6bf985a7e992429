package channel

import (
	"encoding/json"
	"testing"
)

func TestKeyNameDecodesLikeEncodingJSON(t *testing.T) {
	keys := []string{
		`"to"`, `"t\u006f"`, `"\u0074\u006F"`, `"colibri\u0043lass"`, `"a\"b"`, `"a\\b"`, `"a\/b"`,
		`"\b\f\n\r\t"`, `"\u00e9t\u00e9"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00x"`, `"\ud83dx"`,
		`"ſrom"`, `"from"`, `""`, `"0123456789abcdef"`,
	}
	for _, k := range keys {
		var want string
		if err := json.Unmarshal([]byte(k), &want); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		var buf [maxKeyLen]byte
		got, ok := keyName([]byte(k), &buf)
		if !ok || string(got) != want {
			t.Errorf("keyName(%s) = %q, %v; want %q", k, got, ok, want)
		}
	}
	var buf [maxKeyLen]byte
	if _, ok := keyName([]byte(`"0123456789abcdefg"`), &buf); ok {
		t.Error("a key longer than maxKeyLen should not be decoded")
	}
	if _, ok := keyName([]byte(`"0123456789abcde\u00e9"`), &buf); ok {
		t.Error("an escaped key decoding past maxKeyLen should not be decoded")
	}
}

func TestKeyMatching(t *testing.T) {
	if !keyIs([]byte(`"fr\u006fm"`), "from") || keyIs([]byte(`"From"`), "from") {
		t.Error("keyIs must decode escapes and be case-sensitive")
	}
	if !keyFold([]byte(`"FROM"`), "from") || !keyFold([]byte(`"F\u0052om"`), "from") || keyFold([]byte(`"fro"`), "from") {
		t.Error("keyFold must decode escapes and fold case")
	}
}
