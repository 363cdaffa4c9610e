// Go-style durations (`90s`, `10m`, `1h30m`) as the CRDs write them.

const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Milliseconds of a Go-style duration of hours, minutes and seconds; throws on anything else. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m || text === "") throw new Error(`invalid duration ${JSON.stringify(text)}: want e.g. 90s, 10m or 1h30m`);
  const [h, min, s] = [m[1], m[2], m[3]].map((x) => Number(x ?? 0)) as [number, number, number];
  return ((h * 60 + min) * 60 + s) * 1000;
}

/** {@link parseDuration} of `text`, or `fallback` when `text` is absent. */
export function durationOr(text: string | undefined, fallback: string): number {
  return parseDuration(text ?? fallback);
}
