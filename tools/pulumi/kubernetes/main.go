// pulumi-resource-kubernetes, built from the pinned provider/v4 module.
//
// Upstream's main embeds schema-embed.json and terraform-mapping-embed.json, which its
// Makefile generates (go generate) and which the published module does not carry, so
// this main embeds copies that embedgen.go writes next to it (the manifest's prebuild).
package main

import (
	_ "embed"
	"fmt"
	"os"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	// Upstream's binary has no version flag (it only serves gRPC), so answer one here for
	// the toolchain's check without starting the server.
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(version.Version)
		return
	}
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
