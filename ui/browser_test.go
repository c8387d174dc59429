//go:build browser

package ui_test

import (
	_ "github.com/chromedp/chromedp"
)
