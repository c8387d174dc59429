//go:build unix

// Command bench measures reupload's multipart engine against what users run
// instead (ossutil cp, the SDK v2 Uploader, the SDK v1 Bucket.UploadFile)
// and against a raw parallel PUT loop, on one osstest server with discard
// storage; resume after kill -9, slow links and `reupload batch` over many
// media on the emulator; and writes bench/RESULTS.md.
//
//	go run ./bench            # the full matrix, ~15 min
//	go run ./bench -quick     # 64 MiB at j=4 plus a short WAN case, < 1 min
//
// The parent process runs the fake OSS server and a tiny STS token issuer.
// Every client run happens in a child process (the same binary, re-executed
// with -role), so the peak RSS and CPU time the kernel reports for the child
// (rusage) belong to that client alone; the child prints one JSON line with
// its own timing and Go allocation counters.
//
// Throughput on a shared 2-core machine is noisy and the server shares the
// cores with the client, so the report gives ratios between contenders run
// back to back, not absolute speeds.
package main
