// Package ui serves the local web page of `reupload ui`.
package ui
