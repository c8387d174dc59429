package refresh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLookupCredentials(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".aliyun"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".aliyun", "config.json"), []byte(`{"profiles":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	const noneFix = "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or run 'aliyun configure' (--profile NAME picks another profile)"
	for _, tc := range []struct {
		name   string
		env    map[string]string
		looked string
		fix    string
	}{
		{"nothing anywhere", map[string]string{"HOME": "/nonexistent-home", "USERPROFILE": "/nonexistent-home", "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"},
			"environment ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET (unset), ~/.aliyun/config.json (not found), " +
				"~/.alibabacloud/credentials (not found), ECS RAM role (off: ALIBABA_CLOUD_ECS_METADATA_DISABLED=true)", noneFix},
		{"half a key pair", map[string]string{"HOME": "/nonexistent-home", "USERPROFILE": "/nonexistent-home", "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIexample", "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "TRUE"},
			"environment (ALIBABA_CLOUD_ACCESS_KEY_ID is set, ALIBABA_CLOUD_ACCESS_KEY_SECRET is empty), ~/.aliyun/config.json (not found), " +
				"~/.alibabacloud/credentials (not found), ECS RAM role (off: ALIBABA_CLOUD_ECS_METADATA_DISABLED=true)",
			"set ALIBABA_CLOUD_ACCESS_KEY_SECRET too, or unset ALIBABA_CLOUD_ACCESS_KEY_ID to use a profile"},
		{"the other half", map[string]string{"HOME": "/nonexistent-home", "USERPROFILE": "/nonexistent-home", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"},
			"environment (ALIBABA_CLOUD_ACCESS_KEY_SECRET is set, ALIBABA_CLOUD_ACCESS_KEY_ID is empty), ~/.aliyun/config.json (not found), " +
				"~/.alibabacloud/credentials (not found), ECS RAM role (no instance metadata with a role)",
			"set ALIBABA_CLOUD_ACCESS_KEY_ID too, or unset ALIBABA_CLOUD_ACCESS_KEY_SECRET to use a profile"},
		{"a config without profiles, files named by env, OIDC and URI", map[string]string{"HOME": home, "USERPROFILE": home,
			"ALIBABA_CLOUD_CREDENTIALS_FILE": "/etc/alibaba/creds.ini", "ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1:role/x",
			"ALIBABA_CLOUD_CREDENTIALS_URI": "http://127.0.0.1:1/creds", "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"},
			"environment ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET (unset), OIDC role ALIBABA_CLOUD_ROLE_ARN (failed), " +
				"~/.aliyun/config.json (no usable profile), /etc/alibaba/creds.ini (not found), " +
				"ECS RAM role (off: ALIBABA_CLOUD_ECS_METADATA_DISABLED=true), ALIBABA_CLOUD_CREDENTIALS_URI (failed)", noneFix},
		{"CLI profiles off, no home", map[string]string{"ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true", "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"},
			"environment ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET (unset), aliyun CLI config (off: ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true), " +
				"~/.alibabacloud/credentials (no home directory: HOME is unset), ECS RAM role (off: ALIBABA_CLOUD_ECS_METADATA_DISABLED=true)", noneFix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := lookupCredentials(func(k string) string { return tc.env[k] }, os.Stat)
			if got := strings.Join(l.looked, ", "); got != tc.looked {
				t.Errorf("looked at\n %s\nwant\n %s", got, tc.looked)
			}
			if l.fix != tc.fix {
				t.Errorf("fix %q, want %q", l.fix, tc.fix)
			}
		})
	}
}
