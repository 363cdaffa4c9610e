// One structured logger: JSON lines on stderr, with fixed fields per component.

/** Log levels, most severe first. */
export type Level = "error" | "warn" | "info" | "debug";
const ORDER: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** A structured logger. */
export interface Logger {
  error(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line. */
  with(fields: Record<string, unknown>): Logger;
}

function errorFields(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!fields) return fields;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? v.message : v;
  return out;
}

/** A logger writing JSON lines to `write` (default stderr) at `level` (default `TWINROOT_LOG_LEVEL` or info). */
export function createLogger(
  base: Record<string, unknown> = {},
  level: Level = (process.env.TWINROOT_LOG_LEVEL as Level) || "info",
  write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Logger {
  const log = (lv: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lv] > ORDER[level]) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lv, msg, ...base, ...errorFields(fields) }));
  };
  return {
    error: log("error"),
    warn: log("warn"),
    info: log("info"),
    debug: log("debug"),
    with: (fields) => createLogger({ ...base, ...fields }, level, write),
  };
}

/** A logger that drops everything (tests that assert on other things). */
export const silentLogger: Logger = createLogger({}, "error", () => {});
