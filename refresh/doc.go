// Package refresh calls Alibaba Cloud ICE RefreshUploadMedia and turns its
// answer into an OSS address and an STS credential.
//
// RefreshUploadMedia returns two Base64 JSON blobs, UploadAddress (Endpoint,
// Bucket, FileName) and UploadAuth (AccessKeyId, AccessKeySecret,
// SecurityToken, Expiration, ...). Decode identifies them by content, because
// the published API page shows them swapped, and accepts every Base64
// alphabet the service or a proxy might produce.
//
// Client speaks to ICE through darabonba-openapi's CallApiWithCtx (ACS3
// signatures, credentials-go providers) with the SDK's retry switched off:
// Client retries throttling, 5xx and network errors itself, with capped
// exponential backoff and equal jitter (half fixed, half random), and sleeps through an injectable
// function so tests never wait. Every service failure comes back as an
// *APIError whose Kind says what the user can do about it.
//
// Secrets (AccessKeySecret, SecurityToken) are held in Secret, which prints
// as [redacted] under fmt, JSON and slog; only the OSS signer should call
// Reveal.
//
// docs/ice.md in the repository lists the ICE behaviour this package relies
// on, with the public API pages it comes from.
package refresh
