package reupload

import "testing"

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-0/10", 0, 0, 10, true},
		{"bytes 5-9/10", 5, 9, 10, true},
		{"bytes 0-99/*", 0, 99, -1, true},
		{"bytes */0", -1, -1, 0, true},
		{"bytes 5-10/10", 0, 0, 0, false}, // past the end
		{"bytes 9-5/10", 0, 0, 0, false},
		{"bytes 0-1", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
		{"bytes -1-2/3", 0, 0, 0, false},
		{"bytes 0-1/-3", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		f, l, tot, err := parseContentRange(c.in)
		if (err == nil) != c.ok || c.ok && (f != c.first || l != c.last || tot != c.total) {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v", c.in, f, l, tot, err)
		}
	}
}
