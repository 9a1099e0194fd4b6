package main

import "testing"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"sleep 30":         "sleep 30",
		"\x1b]0;pwned\x07": `\x1b]0;pwned\x07`,
		"tab\there":        `tab\x09here`,
		"back\\slash":      `back\\slash`,
		"\x7f":             `\x7f`,
		"c1 \u009b2J":      `c1 \u009b2J`,
		"bad \xff utf8":    `bad \xff utf8`,
		"unicode héllo ✓":  "unicode héllo ✓",
		"bidi \u202eevil":  `bidi \u202eevil`,
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
	js := string(jsonSafe([]byte("[\"a\x7fb\u009bc\"]")))
	if js != `["a\u007fb\u009bc"]` {
		t.Errorf("jsonSafe: %q", js)
	}
}
