module github.com/reupload/reupload/conformance

go 1.26.8

replace github.com/reupload/reupload => ../

require (
	github.com/aliyun/alibabacloud-oss-go-sdk-v2 v1.6.1
	github.com/reupload/reupload v0.0.0-00010101000000-000000000000
)

require (
	golang.org/x/sys v0.46.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)
