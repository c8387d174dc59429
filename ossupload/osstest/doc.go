// Package osstest is a fake Alibaba Cloud OSS endpoint for tests and
// benchmarks, faithful enough that the official Go SDK
// (github.com/aliyun/aliyun-oss-go-sdk v3.0.2) cannot tell it from OSS for
// the operations an uploader needs.
//
//	s, err := osstest.NewServer(osstest.Options{})
//	defer s.Close()
//	s.CreateBucket("bkt")
//	ak, sk, tok, _ := s.IssueToken("bkt", "video.mp4", time.Hour)
//	client, _ := oss.New(s.URL(), ak, sk, oss.SecurityToken(tok),
//		oss.AuthVersion(oss.AuthV4), oss.Region("cn-shanghai"))
//
// # What it serves
//
// InitiateMultipartUpload, UploadPart, ListParts, CompleteMultipartUpload,
// AbortMultipartUpload, ListMultipartUploads, PutObject, GetObject (with
// Range), HeadObject, GetObjectMeta and DeleteObject. GetObject and
// HeadObject honour If-Match and If-Unmodified-Since (412
// PreconditionFailed) and If-None-Match and If-Modified-Since (304). Other OSS operations
// answer 501 NotImplemented. Presigned URLs (V1 OSSAccessKeyId/Expires/
// Signature, V4 x-oss-signature-version=OSS4-HMAC-SHA256) are served until
// they expire on Options.Now, then answered 403 AccessDenied "Request has
// expired."; PresignGetURL makes one signed with the server's own key.
//
// Requests may be path-style (/bucket/key, when Host is an IP, "localhost",
// the server's own host:port or an "oss-…" endpoint name) or virtual-hosted
// (Host bucket.anything, e.g. bkt.oss-cn-shanghai.aliyuncs.com reached
// through a custom dialer).
//
// # Authentication
//
// Both signature versions are checked byte for byte as the SDK computes them:
// V1 ("OSS ak:sig", HMAC-SHA1 over the signKeyList sub-resources only) and V4
// ("OSS4-HMAC-SHA256", with the SDK's fallback to the Date header when
// x-oss-date is absent; the region must be Options.Region). V1 also takes
// x-oss-date in place of Date, signed on the Date line, as ali-oss sends it.
// V4 requires x-oss-content-sha256: UNSIGNED-PAYLOAD, as OSS does.
// Failures, in the order they are checked:
//
//	no Authorization nor URL signature   403 AccessDenied
//	unparsable Authorization             400 InvalidArgument
//	V1 with Options.RejectV1             403 AccessDenied
//	unknown access key                   403 InvalidAccessKeyId
//	root key sent with a security token  403 InvalidAccessKeyId
//	STS key, token missing or wrong      403 InvalidSecurityToken
//	STS key past expiry / ExpireTokens   403 SecurityTokenExpired
//	Date and x-oss-date missing          403 AccessDenied
//	Date more than 15 min off Now        403 RequestTimeTooSkewed
//	presigned URL past its expiry        403 AccessDenied
//	V4 region empty or not Region        400 InvalidArgument
//	V4 x-oss-content-sha256 missing      400 InvalidArgument
//	  or not UNSIGNED-PAYLOAD
//	wrong signature                      403 SignatureDoesNotMatch
//	STS token's policy does not allow it 403 AccessDenied
//	  (IssueToken: its one object only; IssueTokenPolicy: RAM-style
//	  actions such as oss:ListMultipartUploads on a bucket and key prefix)
//
// A missing bucket is 404 NoSuchBucket before any of these.
//
// Every answer carries x-oss-request-id (24 upper-hex characters). Errors
// are XML as OSS writes them, and HEAD errors carry that XML base64-encoded
// in x-oss-err, which the SDK decodes.
//
// # Objects
//
// ETags are quoted upper-hex MD5s; a completed multipart object's ETag is
// "MD5OFPARTMD5S-N" as S3 makes it. x-oss-hash-crc64ecma is the decimal
// CRC-64/XZ (crc64.ECMA table) of the part, object or whole object.
// CompleteMultipartUpload replaces an object atomically: readers see the old
// bytes, whole, until it returns.
//
// # Faults
//
// AddFault makes chosen requests fail, reset, stall or carry a wrong CRC; see
// Fault. ParseFault reads the same from a command-line flag:
//
//	OP[:ITEM]...
//
// OP is an operation name (UploadPart, CompleteMultipartUpload,
// InitiateMultipartUpload, ListParts, AbortMultipartUpload,
// ListMultipartUploads, PutObject, GetObject, HeadObject, GetObjectMeta,
// DeleteObject) or "*". Each ITEM is one of
//
//	nth=N           fail only the Nth matching request
//	every=N         fail every Nth matching request
//	frac=F          fail this fraction (0 < F <= 1) of matching requests
//	seed=N          seed for frac (default 1)
//	times=N         stop after N injections (alone: the next N requests)
//	NNN, status=NNN answer with this HTTP status
//	CODE, code=CODE answer with this OSS error code (e.g. InternalError)
//	stall=DURATION  hold the request this long first (e.g. 2s)
//	reset           read half the body, then reset the TCP connection
//	badcrc          answer normally but with a wrong x-oss-hash-crc64ecma
//
// With none of nth, every and frac, every matching request fails. A status
// without a code gets the usual one (500 InternalError, 503
// ServiceUnavailable, 403 AccessDenied) and a known code gets its status.
// Examples:
//
//	UploadPart:nth=3:500:InternalError
//	UploadPart:every=5:reset
//	ListParts:frac=0.1:503:ServiceUnavailable
//	CompleteMultipartUpload:nth=1:stall=2s
//	UploadPart:times=2:403:SecurityTokenExpired
//	UploadPart:nth=2:badcrc
//
// # Storage
//
// NewMemoryStorage keeps everything in RAM (each byte once), NewDirStorage
// keeps objects as files under a directory, and NewDiscardStorage keeps only
// sizes and checksums, for benchmarks of files larger than RAM.
package osstest
