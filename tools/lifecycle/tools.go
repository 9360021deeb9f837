//go:build tools

package tools

import (
	_ "github.com/buildpacks/lifecycle/cmd/lifecycle"
	_ "github.com/buildpacks/lifecycle/cmd/launcher"
)
