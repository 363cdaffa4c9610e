//go:build ignore

// embedgen writes schema-embed.json and terraform-mapping-embed.json next to main.go from
// the provider module in the module cache, the schema stamped with the version given as
// the first argument (as upstream's `VERSION=... go generate` does).
//
//	go run embedgen.go 4.25.0
package main

import (
	"encoding/json"
	"log"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

const providerModule = "github.com/pulumi/pulumi-kubernetes/provider/v4"

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" {
		log.Fatal("usage: go run embedgen.go VERSION")
	}
	version := os.Args[1]

	out, err := exec.Command("go", "mod", "download", "-json", providerModule).Output()
	if err != nil {
		log.Fatalf("locating %s: %v", providerModule, err)
	}
	var mod struct{ Dir, Version, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		log.Fatalf("locating %s: %v %s", providerModule, err, mod.Error)
	}
	src := filepath.Join(mod.Dir, "cmd", "pulumi-resource-kubernetes")

	raw, err := os.ReadFile(filepath.Join(src, "schema.json"))
	if err != nil {
		log.Fatal(err)
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		log.Fatalf("schema.json: %v", err)
	}
	spec.Version = version
	stamped, err := json.Marshal(spec)
	if err != nil {
		log.Fatal(err)
	}
	writeFile("schema-embed.json", stamped)

	raw, err = os.ReadFile(filepath.Join(src, "terraform-mapping.json"))
	if err != nil {
		log.Fatal(err)
	}
	var mapping any
	if err := json.Unmarshal(raw, &mapping); err != nil {
		log.Fatalf("terraform-mapping.json: %v", err)
	}
	compact, err := json.Marshal(mapping)
	if err != nil {
		log.Fatal(err)
	}
	writeFile("terraform-mapping-embed.json", compact)
	log.Printf("wrote embedded schema for %s@%s as version %s", providerModule, mod.Version, version)
}

// writeFile replaces name atomically, so a concurrent build never embeds half a file.
func writeFile(name string, data []byte) {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		log.Fatal(err)
	}
}
