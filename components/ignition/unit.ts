// systemd unit file reading as Ignition does it (go-systemd's deserializer): enough
// to reject what Ignition rejects and to see whether a unit has an [Install] section.

/** One `Name=value` line of a unit, with its section. */
export interface UnitOption {
  section: string;
  name: string;
  value: string;
}

const LINE_MAX = 2048;

/** Parses unit contents; returns the options or the parser's error message. */
export function parseUnit(contents: string): { options: UnitOption[] } | { error: string } {
  // go-systemd refuses a line of LINE_MAX bytes or more without a line break.
  for (const line of contents.split(/[\r\n]/)) if (Buffer.byteLength(line) >= LINE_MAX) return { error: `line too long (max ${LINE_MAX} bytes)` };
  const options: UnitOption[] = [];
  let sectionError = "";
  let i = 0;
  let section: string | undefined;
  const n = contents.length;
  const toEol = (): string => {
    const j = contents.indexOf("\n", i);
    const end = j < 0 ? n : j;
    let line = contents.slice(i, end);
    i = j < 0 ? n : j + 1;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    return line;
  };
  const skipCommentLines = () => {
    for (;;) {
      const line = toEol().replace(/ $/, "");
      if (!line.endsWith("\\") || i >= n) break;
    }
  };
  while (i < n) {
    const c = contents[i] as string;
    if (section === undefined) {
      // Before the first section everything but comments and '[' is skipped.
      i++;
      if (c === "[") section = readSection();
      else if (c === "#" || c === ";") skipCommentLines();
      if (section === "\0error") return { error: sectionError };
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "[") {
      i++;
      section = readSection();
      if (section === "\0error") return { error: sectionError };
      continue;
    }
    if (c === "#" || c === ";") {
      i++;
      skipCommentLines();
      continue;
    }
    let name = "";
    for (;;) {
      if (i >= n) return { error: "EOF" };
      const r = contents[i++] as string;
      if (r === "\n" || r === "\r") return { error: "unexpected newline encountered while parsing option name" };
      if (r === "=") break;
      name += r;
    }
    let value = "";
    for (;;) {
      const atEof = contents.indexOf("\n", i) < 0;
      const line = toEol();
      if (line.trim().length !== 0) {
        value += line;
        if (line.endsWith("\\")) {
          if (!atEof) value += "\n";
          if (i < n || !atEof) continue;
        }
      }
      break;
    }
    value = value.endsWith("\n") ? `${value.trim()}\n` : value.trim();
    options.push({ section, name: name.trim(), value });
  }
  return { options };

  // Reads `name]` and the rest of the line after '['.
  function readSection(): string {
    const end = contents.indexOf("]", i);
    if (end < 0) {
      sectionError = "unable to find end of section";
      return "\0error";
    }
    const name = contents.slice(i, end);
    i = end + 1;
    const garbage = toEol().trim();
    if (garbage.length > 0) {
      sectionError = `found garbage after section name ${section ?? ""}: ${JSON.stringify(garbage)}`;
      return "\0error";
    }
    return name;
  }
}
/** True when the unit has an `[Install]` section with at least one option. */
export function hasInstallSection(options: UnitOption[]): boolean {
  return options.some((o) => o.section === "Install");
}

/** systemd's path escaping for unit names (`systemd-escape --path`). */
export function escapePath(p: string): string {
  const allowed = /[:_.a-zA-Z0-9]/;
  const bytes = Buffer.from(p, "utf8");
  let out = "";
  let inSlashes = false;
  let start = true;
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (c === "/") {
      inSlashes = true;
      continue;
    }
    if (inSlashes) {
      inSlashes = false;
      if (!start) out += "-";
    }
    if ((start && c === ".") || !allowed.test(c) || b > 0x7f) out += `\\x${b.toString(16)}`;
    else out += c;
    start = false;
  }
  return out || "-";
}
