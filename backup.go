package reupload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reupload/reupload/internal/crc64x"
	"github.com/reupload/reupload/refresh"
)

// Backup is a verified copy of a media's source file.
type Backup struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	CRC64 string `json:"crc64"` // decimal, as OSS writes x-oss-hash-crc64ecma
}

// Backup downloads the media's current source file (GetMediaInfo's signed
// FileUrl; mi as MediaInfo returned it) into dir, so that a wrong
// replacement can be undone by uploading the copy. The copy is verified:
// its length against the answer's and ICE's FileSize, its CRC-64 against
// OSS's x-oss-hash-crc64ecma when the answer has one. It is written to a
// temporary file and renamed, so a failed backup leaves nothing that looks
// like one. The signed URL never appears in errors.
func (c *Client) Backup(ctx context.Context, mi *refresh.MediaInfo, dir string) (*Backup, error) {
	f, ok := mi.Source()
	if !ok || f.FileURL == "" {
		return nil, fmt.Errorf("backup of media %s: ICE reports no source file to download", mi.MediaID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &InputError{Field: "backup directory", Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.FileURL, nil)
	if err != nil {
		return nil, fmt.Errorf("backup of media %s: bad file URL %s", mi.MediaID, RedactURL(f.FileURL))
	}
	hc := c.cfg.HTTPClient
	if hc == nil {
		hc = defaultSourceClient()
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // the *url.Error quotes the signed URL
		}
		return nil, fmt.Errorf("backup of media %s: download %s: %w", mi.MediaID, RedactURL(f.FileURL), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("backup of media %s: download %s: HTTP %d", mi.MediaID, RedactURL(f.FileURL), resp.StatusCode)
	}
	tmp, err := os.CreateTemp(dir, ".reupload-backup-*")
	if err != nil {
		return nil, &InputError{Field: "backup directory", Err: err}
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	crc := crc64x.New()
	n, err := io.Copy(io.MultiWriter(tmp, crc), resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("backup of media %s: %w", mi.MediaID, err)
	}
	switch want := resp.ContentLength; {
	case want >= 0 && n != want:
		return nil, fmt.Errorf("backup of media %s: got %d bytes of %d", mi.MediaID, n, want)
	case f.FileSize > 0 && n != f.FileSize:
		return nil, fmt.Errorf("backup of media %s: got %d bytes, ICE reports %d", mi.MediaID, n, f.FileSize)
	}
	if v := resp.Header.Get("X-Oss-Hash-Crc64ecma"); v != "" {
		if want, perr := strconv.ParseUint(v, 10, 64); perr == nil && want != crc.Sum64() {
			return nil, fmt.Errorf("backup of media %s: CRC-64 %d, OSS reports %d", mi.MediaID, crc.Sum64(), want)
		}
	}
	path := backupPath(dir, mi.MediaID, f.FileName, time.Now())
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("backup of media %s: %w", mi.MediaID, err)
	}
	return &Backup{Path: path, Size: n, CRC64: strconv.FormatUint(crc.Sum64(), 10)}, nil
}

// backupPath names a backup: the media, the time and the file's own name,
// so that backups of one media never overwrite each other.
func backupPath(dir, mediaID, fileName string, now time.Time) string {
	name := filepath.Base(strings.ReplaceAll(fileName, `\`, "/"))
	if name == "." || name == "/" || name == "" {
		name = "source"
	}
	return filepath.Join(dir, mediaID+"-"+now.UTC().Format("20060102T150405Z")+"-"+name)
}
