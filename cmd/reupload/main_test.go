package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/reupload/reupload/internal/emulator"
)

func TestMain(m *testing.M) {
	// The chaos test re-executes this binary as the CLI, to SIGKILL it.
	if os.Getenv("REUPLOAD_TEST_AS_CLI") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	testscript.Main(m, map[string]func(){
		"reupload": func() {
			stdout, stderr := transcribed()
			os.Exit(run(os.Args[1:], os.Stdin, stdout, stderr))
		},
		// reupload-exit N ARGS… runs reupload ARGS… and succeeds only if it
		// exits with exactly N, so scripts pin every documented exit code.
		"reupload-exit": func() {
			want, err := strconv.Atoi(os.Args[1])
			if err != nil {
				fmt.Fprintln(os.Stderr, "usage: reupload-exit CODE ARGS...")
				os.Exit(99)
			}
			stdout, stderr := transcribed()
			if got := run(os.Args[2:], os.Stdin, stdout, stderr); got != want {
				fmt.Fprintf(os.Stderr, "exit code %d, want %d\n", got, want)
				os.Exit(1)
			}
			os.Exit(0)
		},
	})
}

// transcribed returns the CLI's stdout and stderr, also appended to the
// file $REUPLOAD_TEST_TRANSCRIPT names, so that a script's every output can
// be searched for secrets when it ends, not only the last command's.
func transcribed() (io.Writer, io.Writer) {
	path := os.Getenv("REUPLOAD_TEST_TRANSCRIPT")
	if path == "" {
		return os.Stdout, os.Stderr
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "transcript:", err)
		os.Exit(98)
	}
	// f stays open until the process exits, which is right after run.
	return io.MultiWriter(os.Stdout, f), io.MultiWriter(os.Stderr, f)
}

// noSecretAnywhere fails the script if any secret the emulator handed out
// (STS AccessKeySecret and SecurityToken, raw UploadAuth, the caller's
// secret) appears in what any reupload command printed, or in any file the
// script left (state dir, results). Data files over 4 MiB are
// skipped: reupload writes none that large but the sources.
func noSecretAnywhere(env *testscript.Env, em *emulator.Emulator) {
	secrets := em.IssuedSecrets()
	filepath.WalkDir(env.WorkDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err != nil || fi.Size() > 4<<20 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, s := range secrets {
			if s != "" && bytes.Contains(b, []byte(s)) {
				env.T().Fatal("a secret the emulator issued appears in " + strings.TrimPrefix(p, env.WorkDir))
			}
		}
		return nil
	})
}

// The scripts in testdata/script (bad input, faults, put), testdata/batch
// and testdata/sources each get their own emulator; its endpoints, key and
// media are in the environment as ICE, OSS, MEDIA and MEDIA2 (the first two
// media) and MEDIA0..MEDIAn, with ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET set to
// the emulator's key and every other credential source switched off.
func TestScripts(t *testing.T)       { testscript.Run(t, scriptParams("testdata/script", 2)) }
func TestBatchScripts(t *testing.T)  { testscript.Run(t, scriptParams("testdata/batch", 50)) }
func TestSourceScripts(t *testing.T) { testscript.Run(t, scriptParams("testdata/sources", 2)) }

func scriptParams(dir string, media int) testscript.Params {
	return testscript.Params{
		Dir: dir,
		Setup: func(env *testscript.Env) error {
			// A script sets up its emulator in a file of its archive,
			// .emulator, one "setting=value" per line (ice-lag=1s,
			// sts-ttl=30s): Setup runs before the script's own commands.
			cfg := emulator.Config{Media: media}
			if conf, err := os.ReadFile(filepath.Join(env.WorkDir, ".emulator")); err == nil {
				for _, line := range strings.Fields(string(conf)) {
					k, v, _ := strings.Cut(line, "=")
					if k == "deny" { // an action the second key may not make ($DENIED_*)
						cfg.Deny = append(cfg.Deny, v)
						continue
					}
					d, err := time.ParseDuration(v)
					if err != nil {
						return fmt.Errorf(".emulator: %s: %v", line, err)
					}
					switch k {
					case "ice-lag":
						cfg.MediaLag = d
					case "sts-ttl":
						cfg.STSTTL = d
					default:
						return fmt.Errorf(".emulator: unknown setting %q", k)
					}
				}
			}
			em, err := emulator.Start(cfg)
			if err != nil {
				return err
			}
			env.Defer(em.Close)
			info := em.Info()
			env.Values["em"] = em
			env.Setenv("ICE", info.ICEEndpoint)
			env.Setenv("OSS", info.OSSEndpoint)
			env.Setenv("MEDIA", info.Media[0].MediaID)
			env.Setenv("MEDIA2", info.Media[1].MediaID)
			for i, m := range info.Media {
				env.Setenv("MEDIA"+strconv.Itoa(i), m.MediaID)
			}
			env.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", info.AccessKeyID)
			env.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", info.AccessKeySecret)
			env.Setenv("DENIED_ID", info.DeniedAccessKeyID)
			env.Setenv("DENIED_SECRET", info.DeniedAccessKeySecret)
			env.Setenv("DENIED_TOKEN", info.DeniedSecurityToken)
			env.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
			env.Setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
			env.Setenv("ALIBABA_CLOUD_CONFIG_FILE", filepath.Join(env.WorkDir, "no-aliyun-config.json"))
			env.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", filepath.Join(env.WorkDir, "no-credentials.ini"))
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_CACHE_HOME", filepath.Join(env.WorkDir, ".cache"))
			env.Setenv("STATE", filepath.Join(env.WorkDir, "state"))
			env.Setenv("REUPLOAD_TEST_TRANSCRIPT", filepath.Join(env.WorkDir, ".transcript"))
			env.Defer(func() { noSecretAnywhere(env, em) })
			// Under -race every child otherwise sleeps 1 s at exit
			// (atexit_sleep_ms), which makes 70 exec cases take a minute.
			if os.Getenv("GORACE") == "" {
				env.Setenv("GORACE", "atexit_sleep_ms=0")
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkfile":   cmdMkfile,
			"object":   cmdObject,
			"nosecret": cmdNoSecret,
			"fault":    cmdFault,
			"sparse":   cmdSparse,
			// bad-input helpers, in badinput_test.go
			"checkpoint": cmdCheckpoint,
			"onpart":     cmdOnPart,
			"mpu":        cmdMPU,
			"holdlock":   cmdHoldLock,
			"nofaults":   cmdNoFaults,
			// batch helpers, in batch_script_test.go
			"manifest": cmdManifest,
			"icecalls": cmdICECalls,
			"uploads":  cmdUploads,
			"results":  cmdResults,
			"cover":    cmdCover,
			"backdate": cmdBackdate,
			// source helpers, in sources_test.go
			"serve":  cmdServe,
			"expand": cmdExpand,
		},
	}
}

func emu(ts *testscript.TestScript) *emulator.Emulator {
	return ts.Value("em").(*emulator.Emulator)
}

// mkfile NAME SIZE writes SIZE pseudo-random bytes (SIZE may be 3MiB etc.)
// behind the first bytes of an MP4 file, so that put's guards take it for
// video as they would a real one.
func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mkfile NAME SIZE")
	}
	n, err := parseSize(args[1])
	ts.Check(err)
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 9))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	copy(data, "\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), data, 0o644))
}

// object MEDIA_INDEX (FILE|old): the media's OSS object equals FILE, or is
// still the seeded old source.
func cmdObject(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: object MEDIA_INDEX FILE|old")
	}
	i, err := strconv.Atoi(args[0])
	ts.Check(err)
	m := emu(ts).Info().Media[i]
	got, err := emu(ts).OSS.ReadObject(m.Bucket, m.Object)
	ts.Check(err)
	want := emulator.OldSource(m.MediaID)
	if args[1] != "old" {
		want, err = os.ReadFile(ts.MkAbs(args[1]))
		ts.Check(err)
	}
	if eq := bytes.Equal(got, want); eq == neg {
		ts.Fatalf("object of media %d: %d bytes, equal to %s: %v", i, len(got), args[1], eq)
	}
}

// nosecret: stdout, stderr and every file under $STATE hold no secret: not
// the caller's AccessKeySecret, nor any STS secret or token the emulator issued.
func cmdNoSecret(ts *testscript.TestScript, neg bool, args []string) {
	secrets := append([]string{ts.Getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")}, emu(ts).IssuedSecrets()...)
	texts := map[string]string{"stdout": ts.ReadFile("stdout"), "stderr": ts.ReadFile("stderr")}
	filepath.Walk(ts.Getenv("STATE"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			texts[p] = string(b)
		}
		return nil
	})
	for name, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				ts.Fatalf("a secret leaked into %s", name)
			}
		}
	}
}

// fault SPEC: inject an emulator fault for the rest of the script.
func cmdFault(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: fault SPEC")
	}
	ts.Check(emu(ts).AddFault(args[0]))
}

// sparse NAME SIZE makes a sparse file of SIZE bytes (no disk used).
func cmdSparse(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sparse NAME SIZE")
	}
	n, err := parseSize(args[1])
	ts.Check(err)
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Check(f.Truncate(n))
	ts.Check(f.Close())
}
