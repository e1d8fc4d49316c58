package sfsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file holds a small SOQL parser: enough of the grammar for idlink's
// queries and for admins rehearsing with curl. Supported:
//
//	SELECT field, ... | COUNT()  FROM object
//	[WHERE cond {AND|OR cond}]   cond: field op literal | field [NOT] IN (literal, ...) | NOT cond | (cond)
//	[ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]  [LIMIT n]
//
// with op one of = != <> < <= > >=, and string, boolean, null, number and
// dateTime literals. Reference:
// https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select.htm

// queryError is a SOQL error in Salesforce's words: errorCode is
// MALFORMED_QUERY, INVALID_FIELD or INVALID_TYPE.
type queryError struct {
	code, msg string
}

func (e *queryError) Error() string { return e.code + ": " + e.msg }

func malformed(format string, a ...any) error {
	return &queryError{code: "MALFORMED_QUERY", msg: fmt.Sprintf(format, a...)}
}

type litKind uint8

const (
	litString litKind = iota + 1
	litBool
	litNull
	litNumber
	litDateTime
	litDate
)

type literal struct {
	kind litKind
	s    string // string value, or the source text of others
	b    bool
	t    int64 // dateTime in Unix ms
	n    float64
}

type cmpOp uint8

const (
	opEq cmpOp = iota + 1
	opNe
	opLt
	opLe
	opGt
	opGe
)

type expr interface{ isExpr() }

type andExpr struct{ l, r expr }
type orExpr struct{ l, r expr }
type notExpr struct{ e expr }
type cmpExpr struct {
	field string
	fi    int // resolved field index
	op    cmpOp
	lit   literal
}
type inExpr struct {
	field string
	fi    int
	not   bool
	lits  []literal
}

func (andExpr) isExpr()  {}
func (orExpr) isExpr()   {}
func (notExpr) isExpr()  {}
func (*cmpExpr) isExpr() {}
func (*inExpr) isExpr()  {}

type orderTerm struct {
	field      string
	fi         int
	desc       bool
	nullsFirst bool
}

// parsedQuery is a SOQL statement before and after resolve.
type parsedQuery struct {
	count   bool
	fields  []string
	fis     []int
	object  string
	where   expr
	orderBy []orderTerm
	limit   int // -1 = none
}

type tokKind uint8

const (
	tkEOF tokKind = iota
	tkIdent
	tkString
	tkNumberish // numbers, dates and dateTimes
	tkOp
	tkLParen
	tkRParen
	tkComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tkLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tkRParen, ")", i})
			i++
		case c == ',':
			toks = append(toks, token{tkComma, ",", i})
			i++
		case c == '=':
			toks = append(toks, token{tkOp, "=", i})
			i++
		case c == '!' || c == '<' || c == '>':
			start := i
			i++
			if i < len(s) && (s[i] == '=' || (c == '<' && s[i] == '>')) {
				i++
			}
			op := s[start:i]
			if op == "!" {
				return nil, malformed("unexpected token: '!' at column %d", start+1)
			}
			toks = append(toks, token{tkOp, op, start})
		case c == '\'':
			start := i
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				ch := s[i]
				if ch == '\\' {
					if i+1 >= len(s) {
						break
					}
					switch e := s[i+1]; e {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case 'b':
						b.WriteByte('\b')
					case 'f':
						b.WriteByte('\f')
					case '\'', '"', '\\', '_', '%':
						if e == '_' || e == '%' {
							b.WriteByte('\\')
						}
						b.WriteByte(e)
					default:
						return nil, malformed("invalid escape sequence '\\%c' at column %d", e, i+1)
					}
					i += 2
					continue
				}
				if ch == '\'' {
					closed = true
					i++
					break
				}
				b.WriteByte(ch)
				i++
			}
			if !closed {
				return nil, malformed("unterminated string literal starting at column %d", start+1)
			}
			toks = append(toks, token{tkString, b.String(), start})
		case isDigit(c) || c == '-' || c == '+':
			start := i
			i++
			for i < len(s) && (isDigit(s[i]) || strings.IndexByte("-:.+TZ", s[i]) >= 0) {
				i++
			}
			toks = append(toks, token{tkNumberish, s[start:i], start})
		case isLetter(c):
			start := i
			for i < len(s) && (isLetter(s[i]) || isDigit(s[i]) || s[i] == '_' || s[i] == '.') {
				i++
			}
			toks = append(toks, token{tkIdent, s[start:i], start})
		default:
			return nil, malformed("unexpected character %q at column %d", c, i+1)
		}
	}
	toks = append(toks, token{tkEOF, "", len(s)})
	return toks, nil
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func (p *parser) keyword(kw string) bool {
	t := p.peek()
	if t.kind == tkIdent && strings.EqualFold(t.text, kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKeyword(kw string) error {
	if !p.keyword(kw) {
		t := p.peek()
		return malformed("expecting %s, unexpected token: '%s' at column %d", kw, t.text, t.pos+1)
	}
	return nil
}

func unexpected(t token) error {
	if t.kind == tkEOF {
		return malformed("unexpected end of query")
	}
	return malformed("unexpected token: '%s' at column %d", t.text, t.pos+1)
}

var reserved = map[string]bool{"SELECT": true, "FROM": true, "WHERE": true, "AND": true, "OR": true, "NOT": true,
	"ORDER": true, "BY": true, "LIMIT": true, "IN": true, "ASC": true, "DESC": true, "NULLS": true, "OFFSET": true,
	"GROUP": true, "HAVING": true, "NULL": true, "TRUE": true, "FALSE": true}

func (p *parser) fieldName() (string, error) {
	t := p.next()
	if t.kind != tkIdent || reserved[strings.ToUpper(t.text)] {
		return "", unexpected(t)
	}
	return t.text, nil
}

// parseSOQL parses a statement; resolve checks it against the schema.
func parseSOQL(q string) (*parsedQuery, error) {
	if len(q) > 100000 {
		// Documented SOQL statement limit: 100,000 characters.
		return nil, malformed("query is longer than 100,000 characters")
	}
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	pq := &parsedQuery{limit: -1}
	if err := p.expectKeyword("SELECT"); err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tkIdent && strings.EqualFold(t.text, "COUNT") && p.toks[p.i+1].kind == tkLParen {
		p.i += 2
		if t := p.next(); t.kind != tkRParen {
			return nil, malformed("the simulator supports COUNT() only, not COUNT(field): unexpected token '%s' at column %d", t.text, t.pos+1)
		}
		pq.count = true
	} else {
		for {
			f, err := p.fieldName()
			if err != nil {
				return nil, err
			}
			pq.fields = append(pq.fields, f)
			if p.peek().kind != tkComma {
				break
			}
			p.next()
		}
	}
	if err := p.expectKeyword("FROM"); err != nil {
		return nil, err
	}
	obj := p.next()
	if obj.kind != tkIdent || reserved[strings.ToUpper(obj.text)] {
		return nil, unexpected(obj)
	}
	pq.object = obj.text
	if p.keyword("WHERE") {
		e, err := p.orExpr(0)
		if err != nil {
			return nil, err
		}
		pq.where = e
	}
	if p.keyword("ORDER") {
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		for {
			f, err := p.fieldName()
			if err != nil {
				return nil, err
			}
			term := orderTerm{field: f}
			if p.keyword("DESC") {
				term.desc = true
			} else {
				p.keyword("ASC")
			}
			// Salesforce sorts nulls first by default (ascending).
			term.nullsFirst = !term.desc
			if p.keyword("NULLS") {
				switch {
				case p.keyword("FIRST"):
					term.nullsFirst = true
				case p.keyword("LAST"):
					term.nullsFirst = false
				default:
					return nil, unexpected(p.peek())
				}
			}
			pq.orderBy = append(pq.orderBy, term)
			if p.peek().kind != tkComma {
				break
			}
			p.next()
		}
	}
	if p.keyword("LIMIT") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tkNumberish || err != nil || n < 0 {
			return nil, malformed("LIMIT must be a non-negative integer, got '%s'", t.text)
		}
		pq.limit = n
	}
	if t := p.peek(); t.kind != tkEOF {
		return nil, unexpected(t)
	}
	return pq, nil
}

const maxDepth = 50

func (p *parser) orExpr(depth int) (expr, error) {
	l, err := p.andExpr(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("OR") {
		r, err := p.andExpr(depth)
		if err != nil {
			return nil, err
		}
		l = orExpr{l, r}
	}
	return l, nil
}

func (p *parser) andExpr(depth int) (expr, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("AND") {
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = andExpr{l, r}
	}
	return l, nil
}

func (p *parser) unary(depth int) (expr, error) {
	if depth > maxDepth {
		return nil, malformed("WHERE clause nested too deeply")
	}
	if p.keyword("NOT") {
		e, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notExpr{e}, nil
	}
	if p.peek().kind == tkLParen {
		p.next()
		e, err := p.orExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tkRParen {
			return nil, unexpected(t)
		}
		return e, nil
	}
	f, err := p.fieldName()
	if err != nil {
		return nil, err
	}
	not := p.keyword("NOT")
	if p.keyword("IN") {
		if t := p.next(); t.kind != tkLParen {
			return nil, unexpected(t)
		}
		in := &inExpr{field: f, not: not}
		for {
			l, err := p.literal()
			if err != nil {
				return nil, err
			}
			in.lits = append(in.lits, l)
			t := p.next()
			if t.kind == tkRParen {
				break
			}
			if t.kind != tkComma {
				return nil, unexpected(t)
			}
		}
		return in, nil
	}
	if not {
		return nil, unexpected(p.peek())
	}
	t := p.next()
	if t.kind != tkOp {
		return nil, unexpected(t)
	}
	var op cmpOp
	switch t.text {
	case "=":
		op = opEq
	case "!=", "<>":
		op = opNe
	case "<":
		op = opLt
	case "<=":
		op = opLe
	case ">":
		op = opGt
	case ">=":
		op = opGe
	default:
		return nil, unexpected(t)
	}
	l, err := p.literal()
	if err != nil {
		return nil, err
	}
	return &cmpExpr{field: f, op: op, lit: l}, nil
}

func (p *parser) literal() (literal, error) {
	t := p.next()
	switch t.kind {
	case tkString:
		return literal{kind: litString, s: t.text}, nil
	case tkIdent:
		switch strings.ToLower(t.text) {
		case "true":
			return literal{kind: litBool, b: true, s: t.text}, nil
		case "false":
			return literal{kind: litBool, s: t.text}, nil
		case "null":
			return literal{kind: litNull, s: t.text}, nil
		}
	case tkNumberish:
		return parseNumberish(t)
	}
	return literal{}, unexpected(t)
}

// dateTime literal forms documented for SOQL: YYYY-MM-DDThh:mm:ss(.sss)? with
// Z or ±hh:mm. https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm
var dateTimeLayouts = []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.999999999Z07:00"}

func parseNumberish(t token) (literal, error) {
	s := t.text
	if strings.Contains(s, "T") {
		for _, layout := range dateTimeLayouts {
			if ts, err := time.Parse(layout, s); err == nil {
				return literal{kind: litDateTime, t: ts.UnixMilli(), s: s}, nil
			}
		}
		return literal{}, malformed("invalid dateTime literal '%s' at column %d (use YYYY-MM-DDThh:mm:ssZ)", s, t.pos+1)
	}
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		if _, err := time.Parse("2006-01-02", s); err == nil {
			return literal{kind: litDate, s: s}, nil
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return literal{}, malformed("invalid literal '%s' at column %d", s, t.pos+1)
	}
	return literal{kind: litNumber, n: n, s: s}, nil
}
