package icetest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"sort"
	"strconv"
)

// encodeXML renders a response the way the POP gateway does for Format=XML:
// an XML declaration, then <ActionResponse> (or <Error> for failures) with
// one element per field; a list repeats its field's element once per item.
// darabonba-openapi parses XML when the Content-Type is
// text/xml;charset=utf-8, which is what the caller sends with it.
func encodeXML(root string, v map[string]any) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version='1.0' encoding='UTF-8'?>")
	writeXML(&b, root, v)
	return b.Bytes()
}

func writeXML(b *bytes.Buffer, name string, v any) {
	switch v := v.(type) {
	case []any:
		for _, item := range v {
			writeXML(b, name, item)
		}
		return
	case []map[string]any:
		for _, item := range v {
			writeXML(b, name, item)
		}
		return
	}
	b.WriteString("<" + name + ">")
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			writeXML(b, k, v[k])
		}
	case string:
		xml.EscapeText(b, []byte(v))
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
	default:
		xml.EscapeText(b, []byte(fmt.Sprint(v)))
	}
	b.WriteString("</" + name + ">")
}
