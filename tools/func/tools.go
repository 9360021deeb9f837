//go:build tools

// Package tools pins Knative's func CLI (knative.dev/func/cmd/func) for `make func`: later
// versions need modules the Go module proxy refuses (reference/real-engine.md).
package tools

import _ "knative.dev/func/cmd/func"
