//go:build tools

// Package tools pins Knative Serving's queue-proxy (the main package knative.dev/serving/cmd/queue)
// for the tests that run the invoker behind it (tests/test_knative_queue_proxy.py).
package tools

import _ "knative.dev/serving/cmd/queue"
