package ossupload

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The PartAPI doc states the retry contract; this holds it to classify and
// the limits the engine uses, so that the two cannot drift apart.
func TestPartAPIDocMatchesClassify(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "api.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	ast.Inspect(f, func(n ast.Node) bool {
		if g, ok := n.(*ast.GenDecl); ok && len(g.Specs) == 1 {
			if ts, ok := g.Specs[0].(*ast.TypeSpec); ok && ts.Name.Name == "PartAPI" && g.Doc != nil {
				doc = g.Doc.Text()
			}
		}
		return true
	})
	bullets := map[string]class{"Credential refused": classCredential, "Transient": classRetryable, "Upload gone": classRestart}
	codeRE := regexp.MustCompile(`\b(?:[A-Z][a-z]+){2,}\b`)
	found := 0
	for _, item := range strings.Split(doc, "\n  - ")[1:] {
		head, text, _ := strings.Cut(item, ":")
		head, _, _ = strings.Cut(head, ",")
		want, ok := bullets[head]
		if !ok {
			continue
		}
		found++
		for _, code := range codeRE.FindAllString(strings.ReplaceAll(text, "\n", " "), -1) {
			if !strings.HasSuffix(code, "Expired") && !strings.HasPrefix(code, "Invalid") && !strings.HasPrefix(code, "NoSuch") && code != "RequestTimeout" {
				continue // Go names (CredentialError, RefreshAt…), not OSS codes
			}
			if got := classify(&OSSError{Status: 400, Code: code}); got != want {
				t.Errorf("PartAPI doc lists %s under %q, classify says %d", code, head, got)
			}
		}
	}
	if found != len(bullets) {
		t.Fatalf("PartAPI doc has %d of the %d retry classes", found, len(bullets))
	}
	if !strings.Contains(doc, "after "+strconv.Itoa(maxCredRefreshes)+" refreshes in a row") {
		t.Errorf("PartAPI doc does not give maxCredRefreshes (%d)", maxCredRefreshes)
	}
	for _, status := range []int{500, 503, 429} {
		if classify(&OSSError{Status: status, Code: "X"}) != classRetryable {
			t.Errorf("HTTP %d is not transient, as the doc says", status)
		}
	}
	if classify(&OSSError{Status: 403, Code: "AccessDenied"}) != classFatal {
		t.Error("AccessDenied is not final, as the doc says")
	}
}

// Comments cite documentation that is in this repository (the docs
// folder), not notes kept elsewhere: every docs file a Go file names
// exists, and none cites the out-of-tree protocol notes.
func TestDocsCitedExist(t *testing.T) {
	root := ".."
	cite := regexp.MustCompile(`docs/[A-Za-z0-9_-]+\.md`)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		text := string(b)
		if strings.Contains(text, "oss-protocol"+".md") || strings.Contains(text, "ice-api"+".md") {
			t.Errorf("%s cites notes that are not in the repository", p)
		}
		for _, c := range cite.FindAllString(text, -1) {
			if _, err := os.Stat(filepath.Join(root, c)); err != nil {
				t.Errorf("%s cites %s: %v", p, c, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
