package entrasim

import (
	"strconv"
	"sync"
	"unicode/utf8"
)

// The Graph handlers write JSON by appending to a pooled buffer: a 999-user
// page is ~300 KB and encoding/json's reflection would dominate the
// simulator's CPU, which must stay invisible next to the client's.

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 4<<20 {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

const hexDigits = "0123456789abcdef"

// appendStr appends s as a JSON string.
func appendStr(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendStrOrNull writes null for an empty string, as Graph does for unset
// string properties.
func appendStrOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendStr(b, s)
}

func appendKey(b []byte, k string) []byte {
	b = appendStr(b, k)
	return append(b, ':')
}

// appendUser writes the selected props of u as one JSON object.
func appendUser(b []byte, u *user, m propMask, odataType bool) []byte {
	b = append(b, '{')
	first := true
	if odataType {
		b = append(b, `"@odata.type":"#microsoft.graph.user"`...)
		first = false
	}
	for p := prop(0); p < numProps; p++ {
		if m&(1<<p) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendKey(b, propNames[p])
		switch p {
		case pID:
			b = appendStr(b, u.id)
		case pAccountEnabled:
			b = strconv.AppendBool(b, u.enabled)
		default:
			b = appendStrOrNull(b, u.get(p))
		}
	}
	return append(b, '}')
}
