//go:build !amd64 || purego

package crc64x

const useCLMUL = false

func updateArch(uint64, []byte) (uint64, bool) { return 0, false }
