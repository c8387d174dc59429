// Package deps pins the project's chosen dependencies in go.mod until the
// packages that use them land. Delete it once every import below is used.
package deps

import (
	_ "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	_ "github.com/alibabacloud-go/tea/dara"
	_ "github.com/alibabacloud-go/tea/tea"
	_ "github.com/aliyun/aliyun-oss-go-sdk/oss"
	_ "github.com/aliyun/credentials-go/credentials"
	_ "github.com/rogpeppe/go-internal/lockedfile"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/schollz/progressbar/v3"
	_ "go.uber.org/goleak"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sync/singleflight"
	_ "golang.org/x/time/rate"
	_ "golang.org/x/term"
)
