package refresh_test

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/reupload/reupload/refresh"
)

// Decode tells the two blobs apart by content, so the swapped order of the
// published API page decodes too; secrets print redacted.
func ExampleDecode() {
	auth := base64.StdEncoding.EncodeToString([]byte(`{"AccessKeyId":"STS.demo","AccessKeySecret":"s3cret","SecurityToken":"t0ken","Expiration":"3000"}`))
	addr := base64.RawURLEncoding.EncodeToString([]byte(`{"Endpoint":"oss-cn-shanghai.aliyuncs.com","Bucket":"outin-demo","FileName":"sv/demo.mp4"}`))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	a, c, err := refresh.Decode(auth, addr, now) // swapped on purpose
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Endpoint, a.Bucket, a.FileName, a.Region)
	fmt.Printf("%s %v %v %s\n", c.AccessKeyID, c.AccessKeySecret, c.SecurityToken, c.Expiration.Format(time.RFC3339))
	// Output:
	// https://oss-cn-shanghai.aliyuncs.com outin-demo sv/demo.mp4 cn-shanghai
	// STS.demo [redacted] [redacted] 2030-01-01T00:50:00Z
}
