//go:build tools

// Package tools pins Knative's func CLI (the main package knative.dev/func/cmd/func, v0.49.2: the
// newest release whose dependencies the Go module proxy serves) for tests/test_func_cli.py.
package tools

import _ "knative.dev/func/cmd/func"
