import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { WEEKDAYS } from "../api/types";
import { localWeekSeconds, validateWindows, windowState } from "./windows";

const ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns"];

describe("maintenance windows", () => {
  it("open at the local start time in the window's time zone, not UTC", () => {
    // 2025-01-06 is a Monday. 22:00 in Berlin (UTC+1 in winter) is 21:00 UTC.
    const w = [{ days: ["Mon" as const], start: "22:00", duration: "2h", timeZone: "Europe/Berlin" }];
    assert.equal(windowState(w, new Date("2025-01-06T20:59:00Z")).open, false);
    assert.deepEqual(windowState(w, new Date("2025-01-06T21:00:00Z")), { open: true, closesInS: 7200 });
    assert.equal(windowState(w, new Date("2025-01-06T22:59:59Z")).open, true);
    assert.equal(windowState(w, new Date("2025-01-06T23:00:00Z")).open, false);
    // Summer time: 22:00 Berlin is 20:00 UTC.
    assert.equal(windowState(w, new Date("2025-07-07T20:00:00Z")).open, true);
  });

  it("span midnight and the end of the week", () => {
    const w = [{ days: ["Sun" as const], start: "23:00", duration: "3h" }];
    assert.equal(windowState(w, new Date("2025-01-13T01:30:00Z")).open, true, "Monday 01:30 UTC is inside Sunday's window");
    assert.equal(windowState(w, new Date("2025-01-13T02:00:00Z")).open, false);
  });

  it("say when the next one opens", () => {
    const w = [{ days: ["Tue" as const], start: "01:00", duration: "1h" }];
    assert.deepEqual(windowState(w, new Date("2025-01-06T01:00:00Z")), { open: false, opensInS: 86400 });
  });

  it("are always open when there are none", () => {
    assert.deepEqual(windowState(undefined, new Date()), { open: true });
    assert.deepEqual(windowState([], new Date()), { open: true });
  });

  it("report an unknown time zone by its field", () => {
    assert.deepEqual(validateWindows([{ days: ["Mon"], start: "01:00", duration: "1h", timeZone: "Mars/Olympus" }]), [
      'spec.maintenanceWindows[0].timeZone: unknown time zone "Mars/Olympus"',
    ]);
  });

  it("contain every instant a few minutes after their local opening and none just before (property)", () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date("2020-01-01T00:00:00Z"), max: new Date("2035-01-01T00:00:00Z"), noInvalidDate: true }),
        fc.constantFrom(...ZONES),
        fc.integer({ min: 0, max: 119 }),
        (now, tz, minutesIn) => {
          // Build the window whose opening was `minutesIn` minutes of local clock ago.
          const local = localWeekSeconds(now, tz) - minutesIn * 60 - (localWeekSeconds(now, tz) % 60);
          const wrapped = (local + 7 * 86400) % (7 * 86400);
          const day = WEEKDAYS[Math.floor(wrapped / 86400)] as (typeof WEEKDAYS)[number];
          const hm = wrapped % 86400;
          const start = `${String(Math.floor(hm / 3600)).padStart(2, "0")}:${String(Math.floor((hm % 3600) / 60)).padStart(2, "0")}`;
          assert.equal(windowState([{ days: [day], start, duration: "2h", timeZone: tz }], now).open, true);
          if (minutesIn > 0) {
            const closed = windowState([{ days: [day], start, duration: `${minutesIn}m`, timeZone: tz }], now);
            assert.equal(closed.open, false, "a window that already closed is not open");
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
