// Package csvsafe guards CSV cells against spreadsheet formula injection
// (OWASP "CSV injection") on the way out, and removes that guard on the way
// back in, so that a file idlink wrote, opened and saved in a spreadsheet
// and read again keeps every value: a base64url sub may start with "-".
package csvsafe

// triggers are the first characters that make Excel, LibreOffice or Google
// Sheets read a cell as a formula.
func trigger(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r', '|', '%':
		return true
	}
	return false
}

// guarded tells whether Cell prefixes s: it starts with a trigger, or with
// quotes before one (so that a value that itself looks guarded survives the
// round trip).
func guarded(s string) bool {
	for len(s) > 0 && s[0] == '\'' {
		s = s[1:]
	}
	return s != "" && trigger(s[0])
}

// Cell prefixes a cell that starts like a formula with a single quote, so a
// spreadsheet shows it as text.
func Cell(s string) string {
	if guarded(s) {
		return "'" + s
	}
	return s
}

// Value undoes Cell: a leading quote before a (quoted) formula trigger is
// the guard, not part of the value. Any other value is returned unchanged.
func Value(s string) string {
	if len(s) >= 2 && s[0] == '\'' && guarded(s[1:]) {
		return s[1:]
	}
	return s
}
