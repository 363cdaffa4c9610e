// Maintenance windows in the window's own time zone, through Intl (no tz database of
// our own). A window is measured in local wall-clock time: a 4h window that spans a
// daylight-saving change lasts 3 or 5 real hours, as a person reading the clock expects.

import { parseDuration } from "../api/duration";
import { type MaintenanceWindow, WEEKDAYS, type Weekday } from "../api/types";

const WEEK_S = 7 * 24 * 3600;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for an unknown zone; validateWindows turns that into a message.
    f = new Intl.DateTimeFormat("en-US", { timeZone, weekday: "short", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Seconds since local Monday 00:00 in `timeZone` at instant `now`. */
export function localWeekSeconds(now: Date, timeZone: string): number {
  const parts = formatter(timeZone).formatToParts(now);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
  const day = WEEKDAYS.indexOf(get("weekday") as Weekday);
  if (day < 0) throw new Error(`windows: unexpected weekday ${get("weekday")} for ${timeZone}`);
  return day * 86400 + Number(get("hour")) * 3600 + Number(get("minute")) * 60 + Number(get("second"));
}

function startSeconds(start: string): number {
  const [h, m] = start.split(":").map(Number) as [number, number];
  return h * 3600 + m * 60;
}

/** Where a set of windows stands at one instant. */
export interface WindowState {
  open: boolean;
  /** Seconds until the open window closes (when open). */
  closesInS?: number;
  /** Seconds until the next window opens (when closed); approximate across a DST change. */
  opensInS?: number;
}

/** Whether new nodes may start at `now`; no windows means always. Assumes {@link validateWindows} passed. */
export function windowState(windows: MaintenanceWindow[] | undefined, now: Date): WindowState {
  if (!windows?.length) return { open: true };
  let closesIn = -1;
  let opensIn = Number.POSITIVE_INFINITY;
  for (const w of windows) {
    const local = localWeekSeconds(now, w.timeZone ?? "UTC");
    const dur = parseDuration(w.duration) / 1000;
    for (const d of w.days) {
      const openAt = WEEKDAYS.indexOf(d) * 86400 + startSeconds(w.start);
      const elapsed = (((local - openAt) % WEEK_S) + WEEK_S) % WEEK_S;
      // A window longer than the gap to its next opening overlaps itself; elapsed is
      // measured from the latest opening, which is the one that matters.
      if (elapsed < dur) closesIn = Math.max(closesIn, dur - elapsed);
      else opensIn = Math.min(opensIn, WEEK_S - elapsed);
    }
  }
  return closesIn >= 0 ? { open: true, closesInS: closesIn } : { open: false, opensInS: opensIn };
}

/** Problems with windows that the schema cannot see (unknown time zones), one message each. */
export function validateWindows(windows: MaintenanceWindow[] | undefined): string[] {
  const problems: string[] = [];
  (windows ?? []).forEach((w, i) => {
    try {
      formatter(w.timeZone ?? "UTC");
    } catch {
      problems.push(`spec.maintenanceWindows[${i}].timeZone: unknown time zone ${JSON.stringify(w.timeZone)}`);
    }
    try {
      parseDuration(w.duration);
    } catch (err) {
      problems.push(`spec.maintenanceWindows[${i}].duration: ${(err as Error).message}`);
    }
  });
  return problems;
}
