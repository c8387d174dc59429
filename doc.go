// Package reupload replaces the source file of an existing Alibaba Cloud
// Intelligent Media Services (ICE) media asset while keeping its MediaId.
//
// A Client asks ICE RefreshUploadMedia for the media's upload address and an
// STS credential scoped to that one OSS object (package refresh), then runs a
// resumable, parallel, CRC-64-verified multipart upload to it (package
// ossupload), keeping a checkpoint per MediaId (package resume) so that a
// killed run resumes where OSS left off. The old source stays whole and
// readable until the final CompleteMultipartUpload replaces it in one step.
//
// A Client is built once and is safe for concurrent use:
//
//	c, err := reupload.New(reupload.Config{Region: "cn-shanghai"})
//	res, err := c.Overwrite(ctx, "c2e77390f75271ec802f0674a2ce6abc", "new.mp4", reupload.Options{})
//
// Every error is typed: *InputError for bad input (nothing was sent),
// *refresh.APIError for ICE failures, and the ossupload error types for OSS
// ones; ExitCode maps any of them to the documented CLI exit codes.
//
// docs/ice.md and docs/oss.md in the repository list the service behaviour
// the packages rely on, with the public documentation it comes from.
package reupload
