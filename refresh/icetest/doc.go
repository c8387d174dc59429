// Package icetest is a fake Alibaba Cloud ICE (Intelligent Media Services)
// OpenAPI endpoint for tests, benchmarks and demos.
//
// It listens on loopback like httptest.NewServer and speaks the real wire
// format that darabonba-openapi v2.1.13 produces: every request must carry an
// ACS3-HMAC-SHA256 signature, which the server verifies exactly as the SDK
// computes it, together with the x-acs-date window (±15 min), a nonce that
// may not be replayed within 15 min, and, for STS callers, an unexpired
// x-acs-security-token. Failures come back as the gateway's JSON error body
// ({RequestId, HostId, Code, Message, Recommend}) with the gateway's status.
//
// Implemented actions: RefreshUploadMedia and GetMediaInfo (API version
// 2020-11-09). Anything else is 404 InvalidAction.NotFound.
//
// Choices where the real service is undocumented:
//   - A MediaId is well formed when it is exactly 32 ASCII letters or digits
//     (real ids are 32 lowercase hex digits). Anything else is
//     400 InvalidParameter; use MediaID to derive a valid id from a name.
//   - An unknown but well-formed MediaId is 404 ResourceNotFound.
//   - Throttling answers 400 Throttling.User, which the SDK turns into a
//     ThrottlingError.
//
// The STS credential inside UploadAuth comes from a TokenIssuer (the fake OSS
// server implements it), so the credential the client decodes is one the
// fake OSS will accept. Faults (AddFault, ParseFault) inject error statuses
// and malformed or swapped UploadAddress/UploadAuth blobs.
package icetest
