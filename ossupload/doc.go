// Package ossupload overwrites one OSS object with a resumable, parallel,
// verified multipart upload.
//
// The engine talks to OSS only through PartAPI, so every test can run against
// osstest or a hand-written double; NewOSSAPI adapts the official SDK's Bucket
// part calls to it. The engine owns the orchestration the SDK's UploadFile
// lacks: classified retries with backoff, one credential refresh however many
// parts hit an expired token (singleflight), reconciliation with ListParts on
// resume, and end-to-end CRC-64 verification (each part against the
// x-oss-hash-crc64ecma OSS answers with, and the whole object after Complete).
//
// On resume the server's ListParts is the truth; the checkpoint only names the
// upload ID and remembers the CRC-64 of parts, because a crash can land
// between a successful UploadPart and the next checkpoint write. A listed part
// the checkpoint does not know is kept only if its ETag equals the MD5 of the
// local bytes.
//
// The object changes only at CompleteMultipartUpload: until then readers see
// the old source, whole. The engine never prints; it reports through Progress
// and Options.OnEvent.
//
// PartAPI documents which failures are retried and which fetch a new
// credential. docs/oss.md in the repository lists the OSS behaviour the
// engine relies on (operations, limits, CRC-64/XZ, error codes), with the
// public API pages it comes from.
package ossupload
