// Package jsonscan walks JSON pages without decoding what the caller does
// not need: the structure (strings and nesting) is checked, the scalars a
// caller skips are not. Graph's member pages and Salesforce's query pages
// are read with it because encoding/json's reflection cost more than the
// rest of reading them; every caller falls back to encoding/json for a page
// the walk does not accept, so that a malformed page is reported as before.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Space returns the index of the first byte at or after i that is not JSON
// white space.
func Space(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// StringEnd returns the index after the JSON string starting at b[i] ('"'),
// or -1.
func StringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// ValueEnd returns the index after the JSON value starting at b[i], or -1;
// it checks only the nesting and the strings, not the scalars.
func ValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return StringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = StringEnd(b, j); j < 0 {
					return -1
				}
				j-- // the loop's j++ moves past the string
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// Object walks the object at b[i], calling field with each key (plain
// ASCII without escapes, as a caller compares it to a field name without
// case, the way encoding/json matches keys) and where its value starts;
// field returns where the value ends. Object returns the index after the
// object, or false when the object is malformed, a key is not plain or
// field refuses.
func Object(b []byte, i int, field func(key []byte, v int) (int, bool)) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i = Space(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		kend := StringEnd(b, i)
		if kend < 0 {
			return 0, false
		}
		key := b[i+1 : kend-1]
		for _, c := range key {
			if c == '\\' || c >= utf8.RuneSelf {
				return 0, false
			}
		}
		i = Space(b, kend)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		vend, ok := field(key, Space(b, i+1))
		if !ok {
			return 0, false
		}
		i = Space(b, vend)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case '}':
			return i + 1, true
		case ',':
			i = Space(b, i+1)
		default:
			return 0, false
		}
	}
}

// Array walks the array at b[i], calling elem with where each element
// starts; elem returns where it ends. Array returns the index after the
// array, or false.
func Array(b []byte, i int, elem func(v int) (int, bool)) (int, bool) {
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	i = Space(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		end, ok := elem(i)
		if !ok {
			return 0, false
		}
		i = Space(b, end)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ']':
			return i + 1, true
		case ',':
			i = Space(b, i+1)
		default:
			return 0, false
		}
	}
}

// String is the content of the JSON string b (nil for null), without a
// copy when it has no escapes.
func String(b []byte) ([]byte, error) {
	if string(b) == "null" {
		return nil, nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		return b[1 : len(b)-1], nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// Text sets *dst to the JSON string b as encoding/json would (null leaves
// it); false when b is not a string or null, or is not valid UTF-8 (which
// encoding/json would replace).
func Text(dst *string, b []byte) bool {
	s, err := String(b)
	if err != nil || !utf8.Valid(s) {
		return false
	}
	if s != nil {
		*dst = string(s)
	}
	return true
}

// Bool sets *dst to the JSON boolean b (null leaves it); false when b is
// neither.
func Bool(dst *bool, b []byte) bool {
	switch string(b) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	case "null":
	default:
		return false
	}
	return true
}

// Key reports whether a key equals name as encoding/json matches it (ASCII
// keys, without case).
func Key(key []byte, name string) bool { return bytes.EqualFold(key, []byte(name)) }
