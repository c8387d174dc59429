package reupload_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"testing"
)

// fieldDocs returns the doc and line comments of the fields of the struct
// type name declared in file.
func fieldDocs(t *testing.T, file, name string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != name {
			return true
		}
		for _, fl := range ts.Type.(*ast.StructType).Fields.List {
			text := fl.Doc.Text() + fl.Comment.Text()
			for _, id := range fl.Names {
				out[id.Name] = text
			}
		}
		return false
	})
	return out
}

// reupload.Options copies some of ossupload.Options' fields; their docs
// must say the same about the zero value (Concurrency's said "0 means 4"
// while the engine's 0 is auto).
func TestOptionsDocsMatchEngine(t *testing.T) {
	ours := fieldDocs(t, "reupload.go", "Options")
	engine := fieldDocs(t, filepath.Join("ossupload", "options.go"), "Options")
	zero := regexp.MustCompile(`0 means (\w+)`)
	for _, f := range []string{"PartSize", "Concurrency", "LimitRate"} {
		o, e := zero.FindStringSubmatch(ours[f]), zero.FindStringSubmatch(engine[f])
		if o == nil || e == nil || o[1] != e[1] {
			t.Errorf("Options.%s: reupload says %q, ossupload says %q", f, ours[f], engine[f])
		}
	}
}
