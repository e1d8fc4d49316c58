package jsonscan

import "testing"

func TestValueEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`"a\"b",`, 6},
		{`{"a":[1,"]}",{}]} x`, 17},
		{`[[],[[]]]`, 9},
		{`true}`, 4},
		{`-1.5e3 ,`, 6},
		{`"open`, -1},
		{`{"a":[1}`, -1},
		{`,`, -1},
		{``, -1},
	} {
		if got := ValueEnd([]byte(tc.in), 0); got != tc.want {
			t.Errorf("ValueEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestObjectAndArray(t *testing.T) {
	b := []byte(` { "Id" : "x" , "n":[ 1 , 2 ], "o":{} } `)
	var keys []string
	end, ok := Object(b, Space(b, 0), func(key []byte, v int) (int, bool) {
		keys = append(keys, string(key))
		if Key(key, "n") {
			n := 0
			end, ok := Array(b, v, func(v int) (int, bool) { n++; return ValueEnd(b, v), true })
			return end, ok && n == 2
		}
		e := ValueEnd(b, v)
		return e, e >= 0
	})
	if !ok || Space(b, end) != len(b) || len(keys) != 3 || keys[0] != "Id" {
		t.Fatalf("Object: end %d ok %v keys %v", end, ok, keys)
	}
	for _, bad := range []string{`{"a\u0041":1}`, `{"é":1}`, `{"a" 1}`, `{"a":1,}`, `{"a":1 "b":2}`, `[1]`} {
		if _, ok := Object([]byte(bad), 0, func(_ []byte, v int) (int, bool) { e := ValueEnd([]byte(bad), v); return e, e >= 0 }); ok {
			t.Errorf("Object(%s) accepted", bad)
		}
	}
}

func TestScalars(t *testing.T) {
	s := "kept"
	if !Text(&s, []byte(`null`)) || s != "kept" {
		t.Errorf("null changed the string: %q", s)
	}
	if !Text(&s, []byte(`"a\u00e9\n"`)) || s != "a\u00e9\n" {
		t.Errorf("escaped string: %q", s)
	}
	if Text(&s, []byte("\"\xff\"")) || Text(&s, []byte(`7`)) {
		t.Error("invalid UTF-8 or a number taken as text")
	}
	v := true
	if !Bool(&v, []byte(`false`)) || v || !Bool(&v, []byte(`null`)) || v || Bool(&v, []byte(`1`)) {
		t.Error("Bool")
	}
}
