//go:build !unix

package reupload_test

import "errors"

func mkfifo(string) error { return errors.New("mkfifo is Unix-only") }
