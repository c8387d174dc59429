//go:build unix

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const partSize = 8 * mib // equal for every contender; also the engine's auto size up to 78 GiB

// tools run in every matrix row, interleaved; peers are the tools users would
// run instead of reupload (the raw loop is the machine's ceiling, not a peer).
var (
	tools     = []string{roleEngine, roleSDK, roleV2, roleUtil, roleRaw}
	peerTools = []string{roleSDK, roleV2, roleUtil}
	// resumable tools keep a checkpoint a rerun picks up.
	resumable = []string{roleEngine, roleSDK, roleV2, roleUtil}
)

// matrixRow is one (size, j) point with every contender's runs.
type matrixRow struct {
	Size int64
	Jobs int
	Runs map[string][]measured // by role
}

func (r matrixRow) med(role string) measured { return median(r.Runs[role]) }

// wanRow is one engine setting on the WAN profile.
type wanRow struct {
	Label string
	Jobs  int // 0 = auto
	Run   measured
}

// resumeRow is a kill at ~50 % and a rerun.
type resumeRow struct {
	Tool        string
	Size        int64
	Jobs        int
	First       measured // killed
	Second      measured // finished the upload
	Waste       float64  // (bytes received − size) / part size
	PartsReused int
	// Walls and Wastes are every repetition's (sorted by resumed wall);
	// First, Second and Waste are the median's.
	Walls, Wastes []float64
}

// refreshRow compares uploads with a long-lived token and with a short one.
type refreshRow struct {
	Size        int64
	Jobs        int
	TTL         time.Duration
	Base, Short []measured
}

type results struct {
	Quick    bool
	Started  time.Time
	Elapsed  time.Duration
	Matrix   []matrixRow
	Defaults measured // engine, zero Options, largest size
	DefSize  int64
	// AtDefaults is every tool at its own defaults (no part size, no
	// parallelism given), at DefRowSize on loopback and WANSize on the WAN.
	AtDefaults  matrixRow
	WANDefaults matrixRow
	Slow        []slowRow
	SlowSize    int64
	Batch       []batchRow
	WAN         []wanRow
	WANSize     int64
	Resume      []resumeRow
	Refresh     refreshRow
	Profiles    map[string]string // role → pprof -top text
	Analysis    string            `json:"-"` // ANALYSIS.md next to the report, hand-written from the profiles
}

// row runs every tool of tools at one (size, j, part size) point, interleaved
// so that drift hits every contender alike. j and part 0 mean each tool's
// own defaults.
func (b *bench) row(ctx context.Context, e *env, path string, size int64, j int, part int64, tools []string) (matrixRow, error) {
	return b.rowReps(ctx, e, path, size, j, part, tools, b.reps(size))
}

func (b *bench) rowReps(ctx context.Context, e *env, path string, size int64, j int, part int64, tools []string, reps int) (matrixRow, error) {
	row := matrixRow{Size: size, Jobs: j, Runs: map[string][]measured{}}
	for rep := range reps {
		for _, tool := range tools {
			b.logf("%s %s %s j=%d rep %d", e.name, tool, sizeName(size), j, rep+1)
			m, err := b.spawn(ctx, e, childArgs{Role: tool, File: path, Size: size, PartSize: part, Jobs: j}, nil)
			if err != nil {
				return row, err
			}
			row.Runs[tool] = append(row.Runs[tool], m)
		}
	}
	return row, nil
}

func (b *bench) reps(size int64) int {
	if b.cfg.reps > 0 {
		return b.cfg.reps
	}
	// A 64 MiB run lasts about 0.1 s, so one scheduling hiccup moves it by
	// several per cent: many short runs cost little and steady the median.
	switch {
	case size <= 64*mib:
		return 11
	case size <= gib:
		return 5
	}
	return 3
}

func (b *bench) all(ctx context.Context) ([]byte, error) {
	res := &results{Quick: b.cfg.quick, Started: time.Now(), Profiles: map[string]string{}, Analysis: readAnalysis(b.cfg.out)}
	if err := b.buildPeers(ctx); err != nil {
		return nil, err
	}
	sizes, jobs := []int64{64 * mib, gib, 8 * gib}, []int{1, 4, 16}
	wanSize, wanJobs := int64(256*mib), []int{1, 2, 4, 8, 16}
	resumeSize, refreshSize, refreshReps := int64(gib), int64(gib), 3
	slowSize, slowKills := int64(48*mib), 10
	resumeReps := 3
	if b.cfg.quick {
		sizes, jobs = []int64{64 * mib}, []int{4}
		wanSize, wanJobs = 64*mib, []int{8, 16}
		resumeSize, refreshSize, refreshReps = 64*mib, 64*mib, 2
		slowSize, slowKills = 16*mib, 2
		resumeReps = 1
	}

	for _, size := range sizes {
		if !b.want("matrix") {
			break
		}
		path, err := b.file(size)
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			row, err := b.row(ctx, b.lan, path, size, j, partSize, tools)
			if err != nil {
				return nil, err
			}
			res.Matrix = append(res.Matrix, row)
		}
	}
	// Every tool at its own defaults: what a user who sets nothing gets.
	if b.want("defaults") {
		size := min(int64(gib), sizes[len(sizes)-1])
		path, err := b.file(size)
		if err != nil {
			return nil, err
		}
		if res.AtDefaults, err = b.row(ctx, b.lan, path, size, 0, 0, resumable); err != nil {
			return nil, err
		}
		if path, err = b.file(wanSize); err != nil {
			return nil, err
		}
		// One run each: the WAN's latency jitter averages over many requests.
		if res.WANDefaults, err = b.rowReps(ctx, b.wan, path, wanSize, 0, 0, resumable, 1); err != nil {
			return nil, err
		}
	}

	// Default settings at the largest size: the RSS target.
	var err error
	if b.want("matrix") {
		res.DefSize = sizes[len(sizes)-1]
		path, _ := b.file(res.DefSize)
		b.logf("engine defaults %d MiB", res.DefSize/mib)
		if res.Defaults, err = b.spawn(ctx, b.lan, childArgs{Role: roleEngine, File: path, Size: res.DefSize}, nil); err != nil {
			return nil, err
		}
	}
	if b.want("wan") {
		if err := b.wanCases(ctx, res, wanSize, wanJobs); err != nil {
			return nil, err
		}
	}
	if b.want("slow") {
		if err := b.slowCases(ctx, res, slowSize, slowKills); err != nil {
			return nil, err
		}
	}
	for _, tool := range resumable {
		if !b.want("resume") {
			break
		}
		// Three kills each, the median resumed run reported: one kill can
		// land on a tool's checkpoint write (ossutil once re-sent all).
		var rs []resumeRow
		for range resumeReps {
			r, err := b.resumeCase(ctx, tool, resumeSize, 4)
			if err != nil {
				return nil, err
			}
			rs = append(rs, r)
		}
		slices.SortFunc(rs, func(x, y resumeRow) int { return cmp.Compare(x.Second.Wall, y.Second.Wall) })
		r := rs[len(rs)/2]
		for _, x := range rs {
			r.Walls, r.Wastes = append(r.Walls, x.Second.Wall), append(r.Wastes, x.Waste)
		}
		res.Resume = append(res.Resume, r)
	}
	if b.want("batch") {
		if err := b.batchCases(ctx, res); err != nil {
			return nil, err
		}
	}
	if b.want("refresh") {
		if res.Refresh, err = b.refreshCase(ctx, refreshSize, 4, refreshReps); err != nil {
			return nil, err
		}
	}
	if b.cfg.profile {
		b.profiles(ctx, res, min(gib, sizes[len(sizes)-1]))
	}
	res.Elapsed = time.Since(res.Started)
	name := resultsName(b.cfg.quick)
	if b.cfg.cases != defaultCases {
		name = "results-partial.json" // never overwrite a whole run's results
	}
	if err := saveResults(filepath.Join(b.cfg.work, name), res); err != nil {
		return nil, err
	}
	return report(res), nil
}

const defaultCases = "matrix,defaults,wan,resume,slow,batch,refresh"

func (b *bench) want(c string) bool {
	for _, x := range strings.Split(b.cfg.cases, ",") {
		if strings.TrimSpace(x) == c {
			return true
		}
	}
	return false
}

func (b *bench) wanCases(ctx context.Context, res *results, size int64, jobs []int) error {
	path, err := b.file(size)
	if err != nil {
		return err
	}
	res.WANSize = size
	b.logf("wan engine auto %d MiB", size/mib)
	m, err := b.spawn(ctx, b.wan, childArgs{Role: roleEngine, File: path, Size: size}, nil)
	if err != nil {
		return err
	}
	res.WAN = append(res.WAN, wanRow{Label: "auto (zero Options)", Run: m})
	for _, j := range jobs {
		b.logf("wan engine j=%d %d MiB", j, size/mib)
		m, err := b.spawn(ctx, b.wan, childArgs{Role: roleEngine, File: path, Size: size, PartSize: partSize, Jobs: j}, nil)
		if err != nil {
			return err
		}
		res.WAN = append(res.WAN, wanRow{Label: fmt.Sprintf("fixed j=%d, 8 MiB parts", j), Jobs: j, Run: m})
	}
	return nil
}

// resumeCase kills tool's child once the server has half the bytes, then
// reruns it with the same checkpoint directory and object key.
func (b *bench) resumeCase(ctx context.Context, tool string, size int64, j int) (resumeRow, error) {
	path, err := b.file(size)
	if err != nil {
		return resumeRow{}, err
	}
	dir, err := os.MkdirTemp(b.cfg.work, "resume-"+tool+"-")
	if err != nil {
		return resumeRow{}, err
	}
	defer os.RemoveAll(dir)
	b.seq++
	a := childArgs{Role: tool, File: path, Size: size, PartSize: partSize, Jobs: j, StateDir: dir, Key: fmt.Sprintf("resume-%s-%04d", tool, b.seq)}
	b.logf("resume %s %d MiB: first run, killed at 50%%", tool, size/mib)
	first, err := b.spawn(ctx, b.lan, a, atBytes(size/2))
	if err != nil {
		return resumeRow{}, err
	}
	b.logf("resume %s: second run", tool)
	second, err := b.spawn(ctx, b.lan, a, nil)
	if err != nil {
		return resumeRow{}, err
	}
	return resumeRow{
		Tool: tool, Size: size, Jobs: j, First: first, Second: second,
		Waste:       float64(first.Received+second.Received-size) / partSize,
		PartsReused: second.PartsReused,
	}, nil
}

// refreshCase times the engine with a token that outlives the upload and
// with one that lives a quarter of it, alternating.
func (b *bench) refreshCase(ctx context.Context, size int64, j, reps int) (refreshRow, error) {
	path, err := b.file(size)
	if err != nil {
		return refreshRow{}, err
	}
	row := refreshRow{Size: size, Jobs: j}
	a := childArgs{Role: roleEngine, File: path, Size: size, PartSize: partSize, Jobs: j}
	b.logf("refresh: baseline %d MiB", size/mib)
	base, err := b.spawn(ctx, b.lan, a, nil)
	if err != nil {
		return row, err
	}
	row.Base = append(row.Base, base)
	row.TTL = max(time.Duration(base.Seconds*float64(time.Second)/4).Round(time.Millisecond), 50*time.Millisecond)
	for rep := range reps {
		short := a
		short.TTL = row.TTL
		b.logf("refresh: ttl %v rep %d", row.TTL, rep+1)
		m, err := b.spawn(ctx, b.lan, short, nil)
		if err != nil {
			return row, err
		}
		row.Short = append(row.Short, m)
		if rep+1 < reps {
			if m, err = b.spawn(ctx, b.lan, a, nil); err != nil {
				return row, err
			}
			row.Base = append(row.Base, m)
		}
	}
	return row, nil
}

// profiles CPU-profiles one engine and one SDK run (j=4) and keeps the top of
// `go tool pprof -top`. Failures only leave a note: profiles are an aid.
func (b *bench) profiles(ctx context.Context, res *results, size int64) {
	path, err := b.file(size)
	if err != nil {
		res.Profiles["error"] = err.Error()
		return
	}
	for _, tool := range []string{roleEngine, roleSDK} {
		prof, err := filepath.Abs(filepath.Join(b.cfg.work, fmt.Sprintf("cpu-%s-%dMiB-j4.pprof", tool, size/mib)))
		if err != nil {
			res.Profiles[tool] = err.Error()
			continue
		}
		b.logf("profile %s %d MiB j=4", tool, size/mib)
		if _, err := b.spawn(ctx, b.lan, childArgs{Role: tool, File: path, Size: size, PartSize: partSize, Jobs: 4, CPUProfile: prof}, nil); err != nil {
			res.Profiles[tool] = err.Error()
			continue
		}
		out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=18", b.exe, prof).CombinedOutput()
		if err != nil {
			res.Profiles[tool] = fmt.Sprintf("go tool pprof: %v\n%s", err, out)
			continue
		}
		res.Profiles[tool] = trimPprof(string(out)) + "\n(profile: " + filepath.Base(prof) + " in " + b.cfg.work + ")"
	}
}

// trimPprof drops pprof's header lines about the binary and build ID.
func trimPprof(s string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

func saveResults(path string, res *results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// render rebuilds a report from a results.json an earlier run saved, with
// the ANALYSIS.md found next to out.
func render(path, out string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	res.Analysis = readAnalysis(out)
	return report(&res), nil
}

func readAnalysis(out string) string {
	a, err := os.ReadFile(filepath.Join(filepath.Dir(out), "ANALYSIS.md"))
	if err != nil {
		return ""
	}
	return string(a)
}

func resultsName(quick bool) string {
	if quick {
		return "results-quick.json"
	}
	return "results-full.json"
}

// slowRow is one engine setting on a slow link.
type slowRow struct {
	Link      string // "2 MiB/s total" or "WAN"
	Label     string
	Jobs      int // 0 = auto
	Run       measured
	Kills     []killSample
	MeanLost  float64 // bytes, over Kills
	FirstPart float64 // seconds, from Run
}

// killSample is one kill -9 at a random moment.
type killSample struct {
	At       float64 // seconds after start
	Received int64   // part bytes the server read before the kill
	Kept     int64   // bytes of the parts OSS lists afterwards
}

// batchRow is one `reupload batch` (or ossutil loop) run over many media.
type batchRow struct {
	Tool      string
	Media     int
	Size      int64
	APIQPS    float64
	Files     int
	Run       measured
	MediaPerS float64
	ICECalls  map[string]int
	Ceiling   float64 // media/s the QPS allows
}
