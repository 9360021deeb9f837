// builderconfig reads a builder.toml with pack's own reader and validator (pack/builder
// ReadConfig, which refuses unknown keys, and ValidateConfig), the checks `pack builder create`
// makes before it fetches anything, and prints the config as pack sees it (JSON) and its
// warnings. Exit 1 with pack's error when pack would refuse the file.
//
//	builderconfig builder.toml
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/buildpacks/pack/builder"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: builderconfig BUILDER_TOML")
		os.Exit(2)
	}
	config, warnings, err := builder.ReadConfig(os.Args[1])
	if err == nil {
		err = builder.ValidateConfig(config)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]any{"config": config, "warnings": warnings})
	fmt.Println(string(out))
}
