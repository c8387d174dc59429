package reupload

import (
	"bytes"
	"testing"
)

func TestSniff(t *testing.T) {
	ts := make([]byte, 400)
	ts[0], ts[188], ts[376] = 0x47, 0x47, 0x47
	for _, c := range []struct {
		name  string
		head  []byte
		media bool
		known bool
	}{
		{"mp4", []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), true, true},
		{"webm", []byte("\x1a\x45\xdf\xa3\x01\x00\x00\x00"), true, true},
		{"mp3", []byte("ID3\x03\x00\x00\x00\x00\x0f\x76"), true, true},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), true, true},
		{"ts", ts, true, true},
		{"vtt", []byte("WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n"), true, true},
		{"srt", []byte("1\n00:00:01,000 --> 00:00:02,000\nhello\n"), true, true},
		{"zip", []byte("PK\x03\x04\x14\x00"), false, true},
		{"pdf", []byte("%PDF-1.7\n"), false, true},
		{"exe", []byte("MZ\x90\x00\x03"), false, true},
		{"elf", []byte("\x7fELF\x02\x01"), false, true},
		{"html", []byte("<html><head>"), false, true},
		{"xml", []byte("<?xml version=\"1.0\"?><a/>"), false, true},
		{"json", []byte("  [1, 2]"), false, true},
		{"random", bytes.Repeat([]byte{0x42, 0x13}, 100), false, false},
		{"binary starting with a brace", append([]byte("{\x00\x9c\xff"), bytes.Repeat([]byte{0x81, 0x07}, 50)...), false, false},
	} {
		format, media := sniff(c.head)
		if media != c.media || (format != "") != c.known {
			t.Errorf("%s: format %q media %v; want media %v known %v", c.name, format, media, c.media, c.known)
		}
	}
}
