import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathWithTools, toolPath } from "./tools";

/** One engine event as written by `pulumi --event-log` (only the fields we read). */
export interface EngineEvent {
  sequence: number;
  timestamp: number;
  summaryEvent?: { resourceChanges?: Record<string, number>; durationSeconds?: number };
  diagnosticEvent?: { severity: string; message: string; urn?: string; prefix?: string };
  resourcePreEvent?: { metadata: StepMetadata };
  resOutputsEvent?: { metadata: StepMetadata };
  resOpFailedEvent?: { metadata: StepMetadata; status: number };
  policyEvent?: { message: string; policyName: string; policyPackName: string; enforcementLevel: string; resourceUrn?: string };
  [other: string]: unknown;
}

/** What the engine said it did (or would do) to one resource. */
export interface StepMetadata {
  op: string;
  urn: string;
  type: string;
  diffs?: string[];
  detailedDiff?: Record<string, { kind: string; inputDiff?: boolean }>;
}

/** The structured outcome of one CLI command. */
export interface PulumiResult {
  command: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  events: EngineEvent[];
  /** The summary's counts per operation (`create`, `update`, `same`, `delete`, ...). */
  changes: Record<string, number>;
  /** Steps by URN, with the operation the engine performed or planned. */
  steps: StepMetadata[];
  /** Error and warning diagnostics, in order. */
  diagnostics: { severity: string; message: string; urn?: string }[];
}

/** Options for {@link PulumiStack.create}. */
export interface PulumiStackOptions {
  /** Folder holding the program's `Pulumi.yaml`. */
  projectDir: string;
  /** Stack name. Default `test`. */
  stack?: string;
  /**
   * Folder for the `file://` backend, `PULUMI_HOME` and the stack's config file.
   * Default: a new temp dir, so parallel tests never share state.
   */
  stateDir?: string;
  /**
   * A stack config file to start from (e.g. the program's committed Pulumi.local.yaml):
   * copied into the state dir and used from there, so config the run sets never touches
   * the original. Default: Pulumi.<stack>.yaml next to the program when it exists (used
   * in place), else a new file in the state dir.
   */
  configTemplate?: string;
  /** Secrets passphrase. Default `twinroot-lab`. */
  passphrase?: string;
  /** Plain config values (`key` or `namespace:key`). */
  config?: Record<string, string>;
  /** Secret config values. */
  secrets?: Record<string, string>;
  /** Extra environment for every command. */
  env?: NodeJS.ProcessEnv;
  /** Per-command timeout. Default 10 minutes. */
  timeoutMs?: number;
}

/** Thrown when a Pulumi command exits non-zero; carries the structured result. */
export class PulumiCommandError extends Error {
  constructor(readonly result: PulumiResult) {
    const errs = result.diagnostics.filter((d) => d.severity === "error").map((d) => d.message.trim());
    super(`pulumi ${result.command.join(" ")} exited ${result.exitCode}: ${errs.join("\n") || result.stderr.trim().slice(-2000)}`);
    this.name = "PulumiCommandError";
  }
}

/**
 * Drives the toolchain's `pulumi` for one stack, offline: a `file://` backend in a temp
 * dir, a passphrase secrets provider, no update checks and no plugin downloads, with the
 * providers found on `PATH` in `.tools/bin`.
 */
export class PulumiStack {
  private constructor(
    readonly projectDir: string,
    readonly stack: string,
    readonly stateDir: string,
    readonly configFile: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly timeoutMs: number,
  ) {}

  /** Creates the backend folder and the stack, and sets its config. */
  static async create(opts: PulumiStackOptions): Promise<PulumiStack> {
    const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "twinroot-pulumi-"));
    const stack = opts.stack ?? "test";
    fs.mkdirSync(path.join(stateDir, "backend"), { recursive: true });
    fs.mkdirSync(path.join(stateDir, "home"), { recursive: true });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: pathWithTools(),
      PULUMI_BACKEND_URL: `file://${path.join(stateDir, "backend")}`,
      PULUMI_HOME: path.join(stateDir, "home"),
      PULUMI_CONFIG_PASSPHRASE: opts.passphrase ?? "twinroot-lab",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_SKIP_CONFIRMATIONS: "true",
      PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
      NO_COLOR: "1",
      // --event-log (the engine's structured events, as the Automation API reads them)
      // is only registered when debug commands are on.
      PULUMI_DEBUG_COMMANDS: "true",
      ...opts.env,
    };
    delete env.PULUMI_ACCESS_TOKEN;
    const projectDir = path.resolve(opts.projectDir);
    // A stack file kept with the program (Pulumi.local.yaml) is the user's config and is
    // used in place, unless `configTemplate` asks for a copy. Otherwise the stack's config
    // lives in the state dir, so parallel tests on one program never share or leave files.
    const projectFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
    const userOwned = !opts.configTemplate && fs.existsSync(projectFile);
    const configFile = userOwned ? projectFile : path.join(stateDir, `Pulumi.${stack}.yaml`);
    if (opts.configTemplate) fs.copyFileSync(opts.configTemplate, configFile);
    const s = new PulumiStack(projectDir, stack, stateDir, configFile, env, opts.timeoutMs ?? 600_000);
    // `stack init` has no --config-file flag: it writes the passphrase's salt into
    // Pulumi.<stack>.yaml next to the program. Keep that file as it was and move the salt
    // into the stack's own config file.
    const before = fs.existsSync(projectFile) ? fs.readFileSync(projectFile, "utf8") : undefined;
    await s.run(["stack", "init", stack, "--secrets-provider", "passphrase"]);
    if (!userOwned) {
      const after = fs.existsSync(projectFile) ? fs.readFileSync(projectFile, "utf8") : "";
      const salt = /^encryptionsalt: .*$/m.exec(after)?.[0];
      const own = fs.existsSync(configFile) ? fs.readFileSync(configFile, "utf8") : "";
      if (salt && !/^encryptionsalt:/m.test(own)) fs.writeFileSync(configFile, `${own}${own && !own.endsWith("\n") ? "\n" : ""}${salt}\n`);
      if (before === undefined) fs.rmSync(projectFile, { force: true });
      else if (after !== before) fs.writeFileSync(projectFile, before);
    }
    for (const [k, v] of Object.entries(opts.config ?? {})) await s.setConfig(k, v);
    for (const [k, v] of Object.entries(opts.secrets ?? {})) await s.setConfig(k, v, true);
    return s;
  }

  /** Sets one config value on the stack. */
  async setConfig(key: string, value: string, secret = false): Promise<void> {
    await this.run(["config", "set", key, "--stack", this.stack, ...(secret ? ["--secret"] : ["--plaintext"]), "--", value], { configFile: true });
  }

  /** `pulumi preview`. */
  preview(extra: string[] = []): Promise<PulumiResult> {
    return this.engine("preview", extra);
  }

  /** `pulumi up --yes --skip-preview`. */
  up(extra: string[] = []): Promise<PulumiResult> {
    return this.engine("up", ["--yes", "--skip-preview", ...extra]);
  }

  /** `pulumi refresh --yes`. */
  refresh(extra: string[] = []): Promise<PulumiResult> {
    return this.engine("refresh", ["--yes", "--skip-preview", ...extra]);
  }

  /** `pulumi destroy --yes`. */
  destroy(extra: string[] = []): Promise<PulumiResult> {
    return this.engine("destroy", ["--yes", "--skip-preview", ...extra]);
  }

  /** The stack's outputs, secrets shown. */
  async outputs(): Promise<Record<string, unknown>> {
    const r = await this.run(["stack", "output", "--json", "--show-secrets", "--stack", this.stack]);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  /** Removes the stack and its state folder. */
  async remove(): Promise<void> {
    // --preserve-config: `stack rm` would otherwise delete Pulumi.<stack>.yaml next to the
    // program, the user's committed config among them.
    await this.run(["stack", "rm", this.stack, "--yes", "--force", "--preserve-config"], { allowFailure: true });
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }

  /** Runs an engine command and returns its structured result; throws on failure unless `allowFailure`. */
  async engine(cmd: string, extra: string[] = [], opts: { allowFailure?: boolean } = {}): Promise<PulumiResult> {
    const eventLog = path.join(this.stateDir, `events-${cmd}-${Date.now()}.jsonl`);
    return this.run([cmd, "--stack", this.stack, "--non-interactive", "--diff", "--event-log", eventLog, ...extra], {
      configFile: true,
      eventLog,
      allowFailure: opts.allowFailure,
    });
  }

  private run(args: string[], opts: { configFile?: boolean; eventLog?: string; allowFailure?: boolean } = {}): Promise<PulumiResult> {
    const bin = toolPath("pulumi");
    // Flags must precede a `--`, after which everything is a positional value.
    const dashes = args.indexOf("--");
    const at = dashes === -1 ? args.length : dashes;
    const argv = opts.configFile ? [...args.slice(0, at), "--config-file", this.configFile, ...args.slice(at)] : args;
    return new Promise((resolve, reject) => {
      const child = spawn(bin, argv, { cwd: this.projectDir, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => {
        stdout += d;
      });
      child.stderr.on("data", (d) => {
        stderr += d;
      });
      const timer = setTimeout(() => child.kill("SIGTERM"), this.timeoutMs);
      child.on("error", (err) => reject(new Error(`pulumi: could not start ${bin}: ${err.message}`, { cause: err })));
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        const events = opts.eventLog ? readEvents(opts.eventLog) : [];
        const result: PulumiResult = {
          command: args,
          exitCode: code ?? (signal ? 128 : 1),
          stdout,
          stderr,
          events,
          changes: events.find((e) => e.summaryEvent)?.summaryEvent?.resourceChanges ?? {},
          steps: events.flatMap((e) => (e.resOutputsEvent ? [e.resOutputsEvent.metadata] : [])),
          diagnostics: events.flatMap((e) =>
            e.diagnosticEvent && e.diagnosticEvent.severity !== "debug" && e.diagnosticEvent.severity !== "info"
              ? [{ severity: e.diagnosticEvent.severity, message: e.diagnosticEvent.message, urn: e.diagnosticEvent.urn }]
              : [],
          ),
        };
        if (result.exitCode !== 0 && !opts.allowFailure) reject(new PulumiCommandError(result));
        else resolve(result);
      });
    });
  }
}

function readEvents(file: string): EngineEvent[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as EngineEvent];
      } catch {
        return [];
      }
    });
}
