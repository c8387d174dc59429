module github.com/reupload/reupload/bench/peers

go 1.26.8

require (
	github.com/aliyun/alibabacloud-oss-go-sdk-v2 v1.6.1
	github.com/reupload/reupload v0.0.0
)

require golang.org/x/time v0.16.0 // indirect

replace github.com/reupload/reupload => ../..
