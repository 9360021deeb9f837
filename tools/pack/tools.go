//go:build tools

// Package tools pins the pack CLI (the main package of github.com/buildpacks/pack) for `make package`.
package tools

import _ "github.com/buildpacks/pack"
