// Package icetest is a fake Alibaba Cloud ICE (Intelligent Media Services)
// OpenAPI endpoint for tests, benchmarks and demos.
//
// It listens on loopback like httptest.NewServer and speaks the real wire
// formats: the ACS3-HMAC-SHA256 signature that darabonba-openapi v2.1.13
// produces, verified exactly as the SDK computes it, and the older RPC
// signature (HMAC-SHA1 Signature among the query or form parameters) that
// the classic SDK and the aliyun CLI send (rpc.go). Both get the ±15 min
// clock window, a nonce that may not be replayed within 15 min, and, for STS
// callers, an unexpired security token. Failures come back as the gateway's
// error body ({RequestId, HostId, Code, Message, Recommend}, plus
// AccessDeniedDetail for Forbidden.RAM) with the gateway's status, in JSON,
// or in XML when the caller asks (Format=XML, or an Accept header naming
// XML).
//
// Implemented actions (API version 2020-11-09): RefreshUploadMedia,
// GetMediaInfo (by MediaId or InputURL, with the documented MediaBasicInfo
// and FileBasicInfo fields, a FileUrl signed for AuthTimeout through a
// Presigner, the source's size from an ObjectStore, and MediaLag: after an
// overwrite, Status Uploading and the old file until the lag has passed)
// and SearchMedia (Match, SortBy, PageNo, PageSize; search.go). Anything
// else is 404 InvalidAction.NotFound.
//
// Choices where the real service is undocumented:
//   - A MediaId is well formed when it is exactly 32 ASCII letters or digits
//     (real ids are 32 lowercase hex digits). Anything else is
//     400 InvalidParameter; use MediaID to derive a valid id from a name.
//   - An unknown but well-formed MediaId is 404 ResourceNotFound.
//   - Throttling answers 400 Throttling.User, which the SDK turns into a
//     ThrottlingError.
//   - A wrong RPC signature echoes the string to sign, as the gateway does,
//     but with an STS caller's SecurityToken replaced by [redacted].
//   - Sources are not analysed: Duration, Width and Height are the seeded
//     ones; FileType is always source_file.
//
// The STS credential inside UploadAuth comes from a TokenIssuer (the fake OSS
// server implements it), so the credential the client decodes is one the
// fake OSS will accept. Faults (AddFault, ParseFault) inject error statuses
// and malformed or swapped UploadAddress/UploadAuth blobs.
package icetest
