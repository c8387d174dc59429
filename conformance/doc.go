// Package conformance drives the project's fake services (osstest, icetest)
// with heavy third-party clients that the product module does not depend on:
// the OSS Go SDK v2, ali-oss (Node, under node/) and the classic RPC SDK.
// It is a module of its own so those clients stay out of the product's go.mod.
package conformance
