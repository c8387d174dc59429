package reupload_test

import (
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
)

// dockerStage is one FROM … stage of a Dockerfile, its instructions with
// continuation lines joined.
type dockerStage struct {
	from  string
	lines []string
}

func parseDockerfile(t *testing.T, name string) []dockerStage {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var (
		stages []dockerStage
		cur    string
	)
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if c, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur += c + " "
			continue
		}
		cur += trimmed
		inst := strings.Join(strings.Fields(cur), " ")
		cur = ""
		if rest, ok := strings.CutPrefix(inst, "FROM "); ok {
			stages = append(stages, dockerStage{from: rest})
			continue
		}
		if len(stages) == 0 {
			if !strings.HasPrefix(inst, "ARG ") {
				t.Fatalf("%s: %q before the first FROM", name, inst)
			}
			continue
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, inst)
	}
	return stages
}

// The image builds a static, trimmed binary of ./cmd/reupload, runs it as a
// numeric non-root user with CA certificates at hand, and its .dockerignore
// keeps nothing the build needs out of the context.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !regexp.MustCompile(`golang:1\.26\b`).MatchString(build.from) {
		t.Errorf("builder FROM %q, want golang:1.26", build.from)
	}
	var goBuild string
	for _, l := range build.lines {
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, "go build") {
			goBuild = l
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "./cmd/reupload"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("go build step %q lacks %s", goBuild, want)
		}
	}
	if _, err := os.Stat("cmd/reupload/main.go"); err != nil {
		t.Errorf("the package the image builds: %v", err)
	}

	var user, entry string
	caCerts := strings.HasPrefix(final.from, "gcr.io/distroless/static") // ships /etc/ssl/certs/ca-certificates.crt
	for _, l := range final.lines {
		switch {
		case strings.HasPrefix(l, "USER "):
			user = strings.TrimPrefix(l, "USER ")
		case strings.HasPrefix(l, "ENTRYPOINT "):
			entry = strings.TrimPrefix(l, "ENTRYPOINT ")
		case strings.HasPrefix(l, "COPY ") && strings.Contains(l, "ca-certificates.crt"):
			caCerts = true
		}
	}
	if !caCerts {
		t.Errorf("final stage FROM %q has no CA certificates: use distroless/static or COPY ca-certificates.crt", final.from)
	}
	if uid, _, _ := strings.Cut(user, ":"); uid != "65532" {
		t.Errorf("final USER %q, want the numeric non-root 65532 (runAsNonRoot checks a number)", user)
	}
	if entry != `["/reupload"]` {
		t.Errorf(`ENTRYPOINT %s, want ["/reupload"]`, entry)
	}

	ignore, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Split(string(ignore), "\n") {
		p = strings.TrimPrefix(strings.TrimSpace(p), "/")
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		p = strings.TrimPrefix(p, "**/")
		for _, need := range []string{"go.mod", "go.sum", "cmd/reupload/main.go", "main.go", "manifest.go", "cmd", ".git"} {
			if ok, _ := path.Match(strings.TrimSuffix(p, "/"), need); ok {
				t.Errorf(".dockerignore pattern %q leaves %s out of the build", p, need)
			}
		}
	}
}
