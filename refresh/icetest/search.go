package icetest

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SearchMedia, as ICE documents it
// (https://www.alibabacloud.com/help/en/ims/developer-reference/api-ice-2020-11-09-searchmedia
// and the Match syntax page
// https://www.alibabacloud.com/help/en/ims/developer-reference/media-asset-search-filter-description):
//
//   - Match: conditions joined by "and", optionally in parentheses, e.g.
//     title = 'China' and mediaId == 'id' and utcCreate = ('1693367158561','1693367158562').
//     "=" is the fuzzy match, "==" the exact one, "field in ('a','b')" the
//     multi-value query, and "field = (lo,hi)" the range query on the
//     millisecond fields utcCreate and utcModified ("(" ")" exclusive,
//     "[" "]" inclusive, an empty bound is open). A field answers with the
//     kind of match it supports whichever of "=" and "==" is used (title
//     and description: fuzzy, case-insensitive substring here; mediaId,
//     mediaType, status: exact). The fake refuses "in" and ranges on fields
//     that do not support them, unknown fields, "or" and "like", with 400
//     InvalidParameter. mediaType defaults to video, as documented.
//     Strings are in single or double quotes; a backslash escapes the next
//     character (how ICE escapes a quote inside a value is undocumented).
//     status takes the status names (Normal, Uploading). Fields the fake
//     keeps no data for (tagList, cateId, fileInfo.storageLocation, …)
//     match nothing.
//   - SortBy: "field:Asc|Desc" joined by commas, fields utcCreate and
//     utcModified; default utcCreate:Desc.
//   - PageNo (default 1) and PageSize (default 10, at most 50).
//
// The answer has RequestId, Code "200", Success "true", Total,
// MediaInfoList (each item as GetMediaInfo's MediaInfo) and ScrollToken.

// MaxSearchPageSize is SearchMedia's largest PageSize.
const MaxSearchPageSize = 50

type fieldKind int

const (
	fuzzyField fieldKind = iota // = and == both match a substring
	exactField                  // = and ==, and in
	rangeField                  // = (lo,hi) in milliseconds
	emptyField                  // a documented field the fake has no data for
)

var searchFields = map[string]fieldKind{
	"title": fuzzyField, "description": fuzzyField,
	"mediaId": exactField, "mediaType": exactField, "status": exactField,
	"utcCreate": rangeField, "utcModified": rangeField,
	"tagList": emptyField, "cateId": emptyField, "fileInfo.storageLocation": emptyField,
	"ocrInfo.tracks.content": emptyField, "aiLabelInfo.category": emptyField, "aiLabelInfo.label_id": emptyField,
}

// condition is one parsed Match term.
type condition struct {
	field  string
	values []string // one for = and ==, several for in
	lo, hi *int64   // range bounds in ms; nil is open
	loInc  bool
	hiInc  bool
}

type matchParser struct {
	src string
	pos int
}

func badMatch(format string, args ...any) *apiError {
	return fail(400, "InvalidParameter", "The specified parameter \"Match\" is not valid: "+format, args...)
}

func (p *matchParser) skipSpace() {
	for p.pos < len(p.src) && strings.ContainsRune(" \t\r\n", rune(p.src[p.pos])) {
		p.pos++
	}
}

// next returns the next token: a punctuation mark, an operator, a quoted
// string (quoted=true, unescaped) or a bare word.
func (p *matchParser) next() (tok string, quoted bool, err *apiError) {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return "", false, nil
	}
	c := p.src[p.pos]
	switch {
	case c == '=' && strings.HasPrefix(p.src[p.pos:], "=="):
		p.pos += 2
		return "==", false, nil
	case strings.IndexByte("=()[],", c) >= 0:
		p.pos++
		return string(c), false, nil
	case c == '\'' || c == '"':
		var b strings.Builder
		for i := p.pos + 1; i < len(p.src); i++ {
			switch p.src[i] {
			case '\\':
				if i+1 < len(p.src) {
					i++
					b.WriteByte(p.src[i])
				}
			case c:
				p.pos = i + 1
				return b.String(), true, nil
			default:
				b.WriteByte(p.src[i])
			}
		}
		return "", false, badMatch("unterminated string at offset %d", p.pos)
	}
	start := p.pos
	for p.pos < len(p.src) && !strings.ContainsRune(" \t\r\n=()[],'\"", rune(p.src[p.pos])) {
		p.pos++
	}
	if start == p.pos {
		return "", false, badMatch("unexpected %q at offset %d", c, p.pos)
	}
	return p.src[start:p.pos], false, nil
}

func (p *matchParser) expect(want string) *apiError {
	tok, quoted, err := p.next()
	if err != nil {
		return err
	}
	if quoted || tok != want {
		return badMatch("want %q, got %q", want, tok)
	}
	return nil
}

// parseMatch parses a Match expression into the conditions to AND.
func parseMatch(src string) ([]condition, *apiError) {
	if strings.TrimSpace(src) == "" {
		return nil, nil // no Match: every media (of the default mediaType)
	}
	p := &matchParser{src: src}
	conds, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if tok, _, err := p.next(); err != nil || tok != "" {
		if err != nil {
			return nil, err
		}
		return nil, badMatch("unexpected %q", tok)
	}
	return conds, nil
}

func (p *matchParser) expr(depth int) ([]condition, *apiError) {
	if depth > 16 {
		return nil, badMatch("too deeply nested")
	}
	var conds []condition
	for {
		save := p.pos
		tok, quoted, err := p.next()
		if err != nil {
			return nil, err
		}
		switch {
		case tok == "(" && !quoted:
			inner, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			conds = append(conds, inner...)
		case tok == "" || quoted:
			return nil, badMatch("want a field name at offset %d", save)
		default:
			c, err := p.condition(tok)
			if err != nil {
				return nil, err
			}
			conds = append(conds, c)
		}
		save = p.pos
		tok, quoted, err = p.next()
		if err != nil {
			return nil, err
		}
		if quoted || !strings.EqualFold(tok, "and") {
			if !quoted && strings.EqualFold(tok, "or") {
				return nil, badMatch("only \"and\" joins conditions")
			}
			p.pos = save
			return conds, nil
		}
	}
}

func (p *matchParser) condition(field string) (condition, *apiError) {
	kind, known := searchFields[field]
	if !known {
		return condition{}, badMatch("unknown search field %q", field)
	}
	c := condition{field: field}
	op, quoted, err := p.next()
	if err != nil {
		return c, err
	}
	switch {
	case quoted:
		return c, badMatch("want an operator after %s", field)
	case strings.EqualFold(op, "in"):
		if kind == fuzzyField || kind == rangeField {
			return c, badMatch("%s does not support the multi-value query", field)
		}
		if err := p.expect("("); err != nil {
			return c, err
		}
		vals, _, err := p.list(")")
		if err != nil {
			return c, err
		}
		c.values = vals
		return c, nil
	case op != "=" && op != "==":
		return c, badMatch("unsupported operator %q after %s; want =, == or in", op, field)
	}
	if kind == rangeField {
		open, _, err := p.next()
		if err != nil {
			return c, err
		}
		if open != "(" && open != "[" {
			return c, badMatch("%s takes a range: (lo,hi) or [lo,hi]", field)
		}
		vals, closer, err := p.list(")]")
		if err != nil {
			return c, err
		}
		if len(vals) != 2 {
			return c, badMatch("a range has two bounds")
		}
		c.loInc, c.hiInc = open == "[", closer == "]"
		for i, v := range vals {
			if v == "" {
				continue
			}
			n, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil {
				return c, badMatch("%s bound %q is not milliseconds", field, v)
			}
			if i == 0 {
				c.lo = &n
			} else {
				c.hi = &n
			}
		}
		return c, nil
	}
	v, quoted, err := p.next()
	if err != nil {
		return c, err
	}
	if !quoted && (v == "" || strings.Contains("()[],=", v)) {
		return c, badMatch("want a value after %s %s", field, op)
	}
	c.values = []string{v}
	return c, nil
}

// list reads comma-separated values up to a closing mark in closers.
func (p *matchParser) list(closers string) ([]string, string, *apiError) {
	var vals []string
	for {
		v, quoted, err := p.next()
		if err != nil {
			return nil, "", err
		}
		if !quoted && (v == "," || (v != "" && strings.Contains(closers, v))) {
			// an empty bound: "(,hi)" or "(lo,)"
			vals = append(vals, "")
		} else {
			if v == "" {
				return nil, "", badMatch("unterminated list")
			}
			vals = append(vals, v)
			if v, _, err = p.next(); err != nil {
				return nil, "", err
			}
		}
		switch {
		case v == ",":
		case v != "" && strings.Contains(closers, v):
			return vals, v, nil
		default:
			return nil, "", badMatch("want , or %s in a list, got %q", closers, v)
		}
	}
}

func (c condition) matches(m *mediaRecord) bool {
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	status := StatusNormal
	if m.uploading {
		status = StatusUploading
	}
	var have string
	switch c.field {
	case "title":
		have = m.Title
	case "description":
		have = m.Description
	case "mediaId":
		have = m.ID
	case "mediaType":
		have = "video"
	case "status":
		have = status
	case "utcCreate", "utcModified":
		t := ms(m.created)
		if c.field == "utcModified" {
			t = ms(m.modified)
		}
		return (c.lo == nil || t > *c.lo || (c.loInc && t == *c.lo)) &&
			(c.hi == nil || t < *c.hi || (c.hiInc && t == *c.hi))
	default:
		return false // a field the fake keeps no data for
	}
	if searchFields[c.field] == fuzzyField {
		return strings.Contains(strings.ToLower(have), strings.ToLower(c.values[0]))
	}
	return slices.Contains(c.values, have)
}

type sortKey struct {
	field string
	desc  bool
}

func parseSortBy(v string) ([]sortKey, *apiError) {
	if strings.TrimSpace(v) == "" {
		v = "utcCreate:Desc"
	}
	var keys []sortKey
	for _, part := range strings.Split(v, ",") {
		field, order, _ := strings.Cut(strings.TrimSpace(part), ":")
		if field != "utcCreate" && field != "utcModified" {
			return nil, fail(400, "InvalidParameter", "The specified parameter \"SortBy\" is not valid: unknown field %q.", field)
		}
		switch {
		case strings.EqualFold(order, "Desc"):
			keys = append(keys, sortKey{field, true})
		case strings.EqualFold(order, "Asc"):
			keys = append(keys, sortKey{field, false})
		default:
			return nil, fail(400, "InvalidParameter", "The specified parameter \"SortBy\" is not valid: order %q; want Asc or Desc.", order)
		}
	}
	return keys, nil
}

func intParam(params url.Values, name string, def, lo, hi int) (int, *apiError) {
	v := params.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fail(400, "InvalidParameter", "The specified parameter %q is not valid; want %d..%d.", name, lo, hi)
	}
	return n, nil
}

func (s *Server) searchMedia(_ *http.Request, params url.Values, _ *Fault) (map[string]any, *apiError) {
	conds, apiErr := parseMatch(params.Get("Match"))
	if apiErr != nil {
		return nil, apiErr
	}
	if !slices.ContainsFunc(conds, func(c condition) bool { return c.field == "mediaType" }) {
		conds = append(conds, condition{field: "mediaType", values: []string{"video"}})
	}
	keys, apiErr := parseSortBy(params.Get("SortBy"))
	if apiErr != nil {
		return nil, apiErr
	}
	pageNo, apiErr := intParam(params, "PageNo", 1, 1, 1<<20)
	if apiErr != nil {
		return nil, apiErr
	}
	pageSize, apiErr := intParam(params, "PageSize", 10, 1, MaxSearchPageSize)
	if apiErr != nil {
		return nil, apiErr
	}
	now := s.opts.Now()

	s.mu.Lock()
	var hits []mediaRecord
	for _, m := range s.media {
		ok := true
		for _, c := range conds {
			if !c.matches(m) {
				ok = false
				break
			}
		}
		if ok {
			hits = append(hits, *m)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(hits, func(a, b mediaRecord) int {
		for _, k := range keys {
			ta, tb := a.created, b.created
			if k.field == "utcModified" {
				ta, tb = a.modified, b.modified
			}
			if c := ta.Compare(tb); c != 0 {
				if k.desc {
					return -c
				}
				return c
			}
		}
		return cmp.Compare(a.ID, b.ID)
	})
	list := []any{}
	for i := (pageNo - 1) * pageSize; i < len(hits) && i < pageNo*pageSize; i++ {
		list = append(list, s.mediaInfo(s.observe(&hits[i], now), now.Add(DefaultAuthTimeout*time.Second)))
	}
	return map[string]any{
		"Code":          "200",
		"Success":       "true",
		"Total":         len(hits),
		"MediaInfoList": list,
		"ScrollToken":   "",
	}, nil
}
