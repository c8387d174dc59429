package refresh

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// credentialError marks a failure of the credential provider (no
// credentials configured, unreadable profile, IMDS down, …). Its text is
// already scrubbed.
type credentialError struct{ err error }

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// chainFailed starts the error of credentials-go's default chain when no
// provider in it had credentials (providers/default.go).
const chainFailed = "unable to get credentials from any of the providers in the chain"

// credentialLookup is what the default chain of credentials-go looked at,
// told from the environment it read, for a person who has to fix it.
type credentialLookup struct {
	looked []string // places, each with what was wrong there
	fix    string
}

// lookupCredentials retraces credentials-go's default chain (v1.4:
// environment, OIDC, aliyun CLI config, credentials file, ECS instance
// RAM role, credentials URI) without calling it again: the chain's own
// error joins each provider's text with ", ", misspelt and with Go's file
// errors, which no one can act on.
func lookupCredentials(getenv func(string) string, stat func(string) (fs.FileInfo, error)) credentialLookup {
	var l credentialLookup
	id, secret := getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"), getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
	switch {
	case id == "" && secret == "":
		l.looked = append(l.looked, "environment ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET (unset)")
	case secret == "":
		l.looked = append(l.looked, "environment (ALIBABA_CLOUD_ACCESS_KEY_ID is set, ALIBABA_CLOUD_ACCESS_KEY_SECRET is empty)")
		l.fix = "set ALIBABA_CLOUD_ACCESS_KEY_SECRET too, or unset ALIBABA_CLOUD_ACCESS_KEY_ID to use a profile"
	case id == "":
		l.looked = append(l.looked, "environment (ALIBABA_CLOUD_ACCESS_KEY_SECRET is set, ALIBABA_CLOUD_ACCESS_KEY_ID is empty)")
		l.fix = "set ALIBABA_CLOUD_ACCESS_KEY_ID too, or unset ALIBABA_CLOUD_ACCESS_KEY_SECRET to use a profile"
	default:
		l.looked = append(l.looked, "environment ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET (refused)")
	}
	if getenv("ALIBABA_CLOUD_ROLE_ARN") != "" {
		l.looked = append(l.looked, "OIDC role ALIBABA_CLOUD_ROLE_ARN (failed)")
	}

	home := getenv("HOME")
	if runtime.GOOS == "windows" {
		home = getenv("USERPROFILE")
	}
	file := func(envVar, rel string) string {
		p, shown := getenv(envVar), ""
		switch {
		case p != "":
			shown = p
		case home == "":
			return "~/" + rel + " (no home directory: HOME is unset)"
		default:
			p, shown = filepath.Join(home, filepath.FromSlash(rel)), "~/"+rel
		}
		_, err := stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return shown + " (not found)"
		case err != nil:
			return shown + " (unreadable)"
		}
		if strings.HasSuffix(p, ".json") {
			// credentials-go says so in an error that quotes the file whole,
			// secrets and all; only the verdict is repeated here.
			if b, err := readSmallFile(p); err == nil && !json.Valid(b) {
				return shown + " (not valid JSON: fix it, e.g. with 'aliyun configure')"
			}
		}
		return shown + " (no usable profile)"
	}
	if strings.EqualFold(getenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED"), "true") {
		l.looked = append(l.looked, "aliyun CLI config (off: ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true)")
	} else {
		l.looked = append(l.looked, file("ALIBABA_CLOUD_CONFIG_FILE", ".aliyun/config.json"))
	}
	l.looked = append(l.looked, file("ALIBABA_CLOUD_CREDENTIALS_FILE", ".alibabacloud/credentials"))
	if strings.EqualFold(getenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED"), "true") {
		l.looked = append(l.looked, "ECS RAM role (off: ALIBABA_CLOUD_ECS_METADATA_DISABLED=true)")
	} else {
		l.looked = append(l.looked, "ECS RAM role (no instance metadata with a role)")
	}
	if getenv("ALIBABA_CLOUD_CREDENTIALS_URI") != "" {
		l.looked = append(l.looked, "ALIBABA_CLOUD_CREDENTIALS_URI (failed)")
	}
	if l.fix == "" {
		l.fix = "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or run 'aliyun configure' (--profile NAME picks another profile)"
	}
	return l
}

// message is the APIError Message for a credential failure: where the
// default chain looked, when it was the chain that found nothing, or
// the provider's own (scrubbed) text otherwise.
func (e *credentialError) message(secrets *Secrets) string {
	if strings.HasPrefix(e.err.Error(), chainFailed) {
		return "no Alibaba Cloud credentials found (looked at: " + strings.Join(lookupCredentials(os.Getenv, os.Stat).looked, ", ") + ")"
	}
	return "no usable Alibaba Cloud credentials: " + secrets.Scrub(e.err.Error())
}

// credentialHint is the Hint of an APIError made from a credential
// failure (StatusCode 0: nothing was sent).
func credentialHint(err error) string {
	var ce *credentialError
	if errors.As(err, &ce) && strings.HasPrefix(ce.err.Error(), chainFailed) {
		return lookupCredentials(os.Getenv, os.Stat).fix
	}
	return "set ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET or --profile"
}

// readSmallFile reads a credentials file of at most 1 MiB.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}
