// pulumi-language-nodejs: the Node.js language host the Pulumi engine launches for
// `runtime: nodejs` projects, policy packs and Node.js plugins.
//
// Upstream's host is its own untagged module (sdk/nodejs/cmd/pulumi-language-nodejs)
// that the Go module proxy here does not serve at any release commit, so this is a host
// of our own, written against the public LanguageRuntime gRPC protocol and the pinned
// Go SDK. It does what a program run needs and leaves the heavy lifting where upstream
// leaves it, to the @pulumi/pulumi npm package the project installs: Run starts
// `node <@pulumi/pulumi>/cmd/run`, RunPlugin starts `cmd/run-policy-pack` (analyzers,
// i.e. `--policy-pack`) or `cmd/run-plugin` (providers written in Node.js). Code
// generation RPCs are not implemented (`pulumi convert`/`gen-sdk` for Node.js).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	"github.com/pulumi/pulumi/sdk/v3/nodejs/npm"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Exit code with which @pulumi/pulumi's run scripts say "the error was already shown to
// the user": the engine should stop without adding a generic message of its own.
const exitAfterUserActionableMessage = 32

func main() {
	// The engine passes --logtostderr and -v=N (registered by the logging package's glog
	// import), --tracing, and the engine's address as the one positional argument.
	tracing := flag.String("tracing", "", "emit tracing to a Zipkin-compatible endpoint")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing("pulumi-language-nodejs", "pulumi-language-nodejs", *tracing)

	var engineAddress string
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[0]
	}

	cancel := make(chan bool)
	host := &nodeHost{engineAddress: engineAddress, tracing: *tracing, cancel: cancel}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

type nodeHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	engineAddress string
	tracing       string
	cancel        chan bool
	cancelOnce    sync.Once
}

func (h *nodeHost) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (
	*pulumirpc.LanguageHandshakeResponse, error,
) {
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *nodeHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *nodeHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancelOnce.Do(func() { close(h.cancel) })
	return &emptypb.Empty{}, nil
}

// ---- the program's options (Pulumi.yaml `runtime.options`) -------------------------

type options struct {
	typescript     bool
	tsconfig       string
	nodeargs       []string
	packagemanager npm.PackageManagerType
}

func parseOptions(info *pulumirpc.ProgramInfo) options {
	o := options{typescript: true, packagemanager: npm.AutoPackageManager}
	var m map[string]any
	if s := info.GetOptions(); s != nil {
		m = s.AsMap()
	}
	if v, ok := m["typescript"].(bool); ok {
		o.typescript = v
	}
	if v, ok := m["tsconfig"].(string); ok {
		o.tsconfig = v
	}
	if v, ok := m["nodeargs"].(string); ok {
		o.nodeargs = strings.Fields(v)
	}
	if v, ok := m["packagemanager"].(string); ok && v != "" {
		o.packagemanager = npm.PackageManagerType(v)
	}
	return o
}

// programDir is where the program (and so its node_modules) lives.
func programDir(info *pulumirpc.ProgramInfo, pwd, program string) string {
	if d := info.GetProgramDirectory(); d != "" {
		return d
	}
	if program != "" && filepath.IsAbs(program) {
		if st, err := os.Stat(program); err == nil && st.IsDir() {
			return program
		}
		return filepath.Dir(program)
	}
	if pwd != "" {
		return pwd
	}
	wd, _ := os.Getwd()
	return wd
}

// sdkScript finds @pulumi/pulumi's cmd/<name> as node itself would from dir, so hoisted
// and workspace layouts resolve the same copy the program will load.
func sdkScript(ctx context.Context, nodeBin, dir, name string) (string, error) {
	module := "@pulumi/pulumi/cmd/" + name
	cmd := exec.CommandContext(ctx, nodeBin, "-e",
		"process.stdout.write(require.resolve(process.argv[1], {paths: [process.argv[2]]}))", module, dir)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		return "", fmt.Errorf("it looks like the Pulumi SDK has not been installed in %s: "+
			"cannot resolve %s (have you run npm install?): %v %s", dir, module, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func nodeBinary() (string, error) {
	p, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	return p, nil
}

// ---- Run ------------------------------------------------------------------------------

func (h *nodeHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	nodeBin, err := nodeBinary()
	if err != nil {
		return nil, err
	}
	info := req.GetInfo()
	opts := parseOptions(info)
	dir := programDir(info, req.GetPwd(), req.GetProgram())
	runScript, err := sdkScript(ctx, nodeBin, dir, "run")
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	args := append([]string{}, opts.nodeargs...)
	args = append(args, runScript)
	flagIf := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	flagIf("monitor", req.GetMonitorAddress())
	flagIf("engine", h.engineAddress)
	flagIf("organization", req.GetOrganization())
	flagIf("project", req.GetProject())
	flagIf("stack", req.GetStack())
	flagIf("pwd", req.GetPwd())
	flagIf("root-directory", info.GetRootDirectory())
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	flagIf("parallel", strconv.Itoa(int(req.GetParallel())))
	flagIf("tracing", h.tracing)
	program := info.GetEntryPoint()
	if program == "" {
		// "." lets the run script take package.json's exports/main, else index.
		program = "."
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(nonNil(req.GetConfig()))
	if err != nil {
		return nil, fmt.Errorf("serializing config: %w", err)
	}
	secretKeys, err := json.Marshal(nonNilSlice(req.GetConfigSecretKeys()))
	if err != nil {
		return nil, fmt.Errorf("serializing config secret keys: %w", err)
	}
	env := append(os.Environ(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
		"PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(opts.typescript),
	)
	if opts.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+opts.tsconfig)
	}

	logging.V(5).Infof("language host launching: %s %s", nodeBin, strings.Join(args, " "))
	cmd := exec.Command(nodeBin, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if exit.ExitCode() == exitAfterUserActionableMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ---- RunPlugin: policy packs and Node.js providers -----------------------------------

func (h *nodeHost) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	ctx := server.Context()
	nodeBin, err := nodeBinary()
	if err != nil {
		return err
	}
	info := req.GetInfo()
	opts := parseOptions(info)
	dir := programDir(info, req.GetPwd(), req.GetProgram())

	var args []string
	switch req.GetKind() {
	case "analyzer":
		// run-policy-pack <engine-address> <policy pack directory>; the engine address is
		// the one argument the engine passes.
		script, err := sdkScript(ctx, nodeBin, dir, "run-policy-pack")
		if err != nil {
			return err
		}
		args = append(append(append([]string{}, opts.nodeargs...), script), req.GetArgs()...)
		args = append(args, dir)
	default:
		// run-plugin <program> [args...]
		script, err := sdkScript(ctx, nodeBin, dir, "run-plugin")
		if err != nil {
			return err
		}
		args = append(append(append([]string{}, opts.nodeargs...), script), dir)
		args = append(args, req.GetArgs()...)
	}

	cmd := exec.CommandContext(ctx, nodeBin, args...)
	cmd.Dir = req.GetPwd()
	// A policy pack runs in its own directory: @pulumi/policy reads the pack's
	// package.json from the working directory, and ts-node its tsconfig.json; the engine's
	// pwd is the stack's program, whose files are not the pack's.
	if cmd.Dir == "" || req.GetKind() == "analyzer" {
		cmd.Dir = dir
	}
	cmd.Env = append(os.Environ(), req.GetEnv()...)
	cmd.Env = append(cmd.Env, "PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(opts.typescript))
	if opts.tsconfig != "" {
		cmd.Env = append(cmd.Env, "PULUMI_NODEJS_TSCONFIG_PATH="+opts.tsconfig)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", nodeBin, err)
	}

	// The engine reads the plugin's port from the first stdout line, so forward output
	// as it comes; gRPC streams need one sender at a time.
	var sendMu sync.Mutex
	send := func(r *pulumirpc.RunPluginResponse) {
		sendMu.Lock()
		defer sendMu.Unlock()
		_ = server.Send(r)
	}
	var wg sync.WaitGroup
	forward := func(r io.Reader, wrap func([]byte) *pulumirpc.RunPluginResponse) {
		defer wg.Done()
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				send(wrap(line))
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go forward(stdout, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	})
	go forward(stderr, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	})
	wg.Wait()

	code := 0
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return err
		}
		code = exit.ExitCode()
	}
	send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
	return nil
}

// ---- plugins and dependencies ----------------------------------------------------------

// pulumiPackageJSON is what a package.json says about a Pulumi resource plugin.
type pulumiPackageJSON struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Pulumi  struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
}

// requiredPlugins walks node_modules below dir for packages that declare a resource plugin.
func requiredPlugins(dir string) ([]*pulumirpc.PackageDependency, error) {
	nodeModules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(nodeModules); err != nil {
		return nil, nil
	}
	seen := map[string]bool{}
	var deps []*pulumirpc.PackageDependency
	err := filepath.WalkDir(nodeModules, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable entries are not ours to report
		}
		if d.IsDir() && d.Name() == ".bin" {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "package.json" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		var pkg pulumiPackageJSON
		if json.Unmarshal(b, &pkg) != nil || !pkg.Pulumi.Resource {
			return nil
		}
		name := pkg.Pulumi.Name
		if name == "" {
			name = strings.TrimPrefix(strings.TrimPrefix(pkg.Name, "@pulumi/"), "@")
		}
		v := pkg.Pulumi.Version
		if v == "" {
			v = pkg.Version
		}
		if v != "" && !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		key := name + "@" + v
		if name == "" || seen[key] {
			return nil
		}
		seen[key] = true
		deps = append(deps, &pulumirpc.PackageDependency{Kind: "resource", Name: name, Version: v, Server: pkg.Pulumi.Server})
		return nil
	})
	return deps, err
}

func (h *nodeHost) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest) (
	*pulumirpc.GetRequiredPackagesResponse, error,
) {
	deps, err := requiredPlugins(programDir(req.GetInfo(), "", ""))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

func (h *nodeHost) GetRequiredPlugins(_ context.Context, req *pulumirpc.GetRequiredPluginsRequest) (
	*pulumirpc.GetRequiredPluginsResponse, error,
) {
	deps, err := requiredPlugins(programDir(req.GetInfo(), req.GetPwd(), req.GetProgram()))
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(deps))
	for _, d := range deps {
		plugins = append(plugins, &pulumirpc.PluginDependency{Kind: d.Kind, Name: d.Name, Version: d.Version, Server: d.Server})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *nodeHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	dir := req.GetDirectory()
	if d := req.GetInfo().GetProgramDirectory(); d != "" {
		dir = d
	}
	opts := parseOptions(req.GetInfo())
	out := streamWriter(func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b})
	})
	errOut := streamWriter(func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b})
	})
	_, err := npm.Install(server.Context(), opts.packagemanager, dir, false, out, errOut)
	return err
}

type streamWriter func([]byte) error

func (w streamWriter) Write(p []byte) (int, error) {
	if err := w(append([]byte(nil), p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *nodeHost) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest) (
	*pulumirpc.GetProgramDependenciesResponse, error,
) {
	info := req.GetInfo()
	dir := programDir(info, req.GetPwd(), req.GetProgram())
	pm, err := npm.ResolvePackageManager(parseOptions(info).packagemanager, dir)
	if err != nil {
		return nil, err
	}
	pkgs, err := pm.ListPackages(ctx, dir, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *nodeHost) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	nodeBin, err := nodeBinary()
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, nodeBin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("running node --version: %w", err)
	}
	return &pulumirpc.AboutResponse{
		Executable: nodeBin,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
	}, nil
}

func (h *nodeHost) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest) (
	*pulumirpc.RuntimeOptionsResponse, error,
) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *nodeHost) Template(context.Context, *pulumirpc.TemplateRequest) (*pulumirpc.TemplateResponse, error) {
	return &pulumirpc.TemplateResponse{}, nil
}

func (h *nodeHost) GenerateProject(context.Context, *pulumirpc.GenerateProjectRequest) (
	*pulumirpc.GenerateProjectResponse, error,
) {
	return nil, status.Error(codes.Unimplemented, "code generation is not supported by this Node.js language host")
}
