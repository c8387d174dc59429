package icetest

import "testing"

// FuzzParseMatch feeds arbitrary Match expressions to the parser: it never
// panics, refuses with 400 InvalidParameter only, and every condition it
// accepts names a known field and carries values or a range.
func FuzzParseMatch(f *testing.F) {
	for _, s := range []string{
		"title = 'China' and mediaId == 'id' and utcCreate = ('1693367158561','1693367158562')",
		`title = 'it\'s' and (status in ('Normal','Uploading'))`,
		"utcModified = [,5]",
		"title like '%x%'",
		"a or b",
		"((((",
		"title = \"",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		conds, err := parseMatch(src)
		if err != nil {
			if err.status != 400 || err.code != "InvalidParameter" {
				t.Fatalf("%q: %d %s", src, err.status, err.code)
			}
			return
		}
		for _, c := range conds {
			kind, ok := searchFields[c.field]
			if !ok {
				t.Fatalf("%q: unknown field %q accepted", src, c.field)
			}
			if kind != rangeField && len(c.values) == 0 {
				t.Fatalf("%q: %s without a value", src, c.field)
			}
		}
	})
}
