// Differential test of `twinroot ignition render` against the real `butane` and
// `ignition-validate` (built by `npm run tools`): every valid corpus config renders to
// the same Ignition as butane's (compared as parsed JSON) and passes ignition-validate;
// every invalid one is rejected by both, each naming the expected field.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { toolPath } from "../../lab/harness/tools";
import { butanePath, type CorpusEntry, corpus, ignitionValidate, pool, type RunResult, renderWithButane, renderWithTwinroot } from "./ignition-corpus";

interface Outcome {
  ours: RunResult;
  theirs: RunResult;
}

async function renderBoth(entries: CorpusEntry[]): Promise<Map<string, Outcome>> {
  const results = await pool(entries, 3, async (e) => ({ ours: await renderWithTwinroot(e.file, e.strict), theirs: await renderWithButane(e.file, e.strict) }));
  return new Map(entries.map((e, i) => [e.name, results[i] as Outcome]));
}

describe("valid Butane configs render as butane renders them", () => {
  const entries = corpus("valid");
  let outcomes = new Map<string, Outcome>();
  before(async () => {
    // Fails (never skips) with the tool's name when npm run tools has not built it.
    toolPath("butane");
    toolPath("ignition-validate");
    outcomes = await renderBoth(entries);
  });

  test("the valid corpus has at least 30 configs", () => {
    assert.ok(entries.length >= 30, `only ${entries.length} valid configs`);
  });

  for (const e of entries) {
    test(`${e.name} gives the same Ignition as butane and passes ignition-validate`, async (t) => {
      const o = outcomes.get(e.name) as Outcome;
      assert.equal(o.theirs.code, 0, `butane rejected a corpus config:\n${o.theirs.stderr}`);
      assert.equal(o.ours.code, 0, `twinroot rejected it:\n${o.ours.stderr}`);
      assert.deepEqual(JSON.parse(o.ours.stdout), JSON.parse(o.theirs.stdout));
      if (o.ours.stdout.trim() === o.theirs.stdout.trim()) t.diagnostic("byte-identical");
      const v = await ignitionValidate(o.ours.stdout);
      assert.equal(v.code, 0, `ignition-validate rejected our output:\n${v.stdout}${v.stderr}`);
      assert.doesNotMatch(v.stdout, /^error/m);
    });
  }
});

describe("invalid Butane configs are rejected by both, naming the field", () => {
  const entries = corpus("invalid");
  let outcomes = new Map<string, Outcome>();
  before(async () => {
    toolPath("butane");
    outcomes = await renderBoth(entries);
  });

  test("the invalid corpus has at least 30 configs, each with an expected field", () => {
    assert.ok(entries.length >= 30, `only ${entries.length} invalid configs`);
    for (const e of entries) assert.ok(e.expect, `${e.name} has no "# expect:" line`);
  });

  for (const e of entries) {
    test(`${e.name} is refused by butane and by twinroot at ${e.expect}`, () => {
      const o = outcomes.get(e.name) as Outcome;
      const expect = e.expect as string;
      assert.notEqual(o.theirs.code, 0, `butane accepted it:\n${o.theirs.stdout}`);
      assert.equal(o.ours.code, 1, `twinroot accepted it (exit ${o.ours.code}):\n${o.ours.stdout}`);
      assert.equal(o.ours.stdout, "", "no config is printed for a rejected input");
      const line = /^line (\d+)$/.exec(expect);
      if (line) {
        assert.match(o.theirs.stderr, new RegExp(`line ${line[1]}\\b`), `butane does not point at line ${line[1]}:\n${o.theirs.stderr}`);
        assert.match(o.ours.stderr, new RegExp(`\\(line ${line[1]}:\\d+\\)`), `twinroot does not point at line ${line[1]}:\n${o.ours.stderr}`);
        return;
      }
      const bp = butanePath(expect);
      const named = o.theirs.stderr.includes(`[${bp}]`) || (!/[.[]/.test(expect) && o.theirs.stderr.includes(expect));
      assert.ok(named, `butane does not name ${bp}:\n${o.theirs.stderr}`);
      const ours = o.ours.stderr.split("\n").filter((l) => / (error|warning) at /.test(l) || /: (error|warning)/.test(l));
      assert.ok(
        ours.some((l) => l.includes(` at ${expect}:`) || l.includes(` at ${expect} (`)),
        `twinroot does not name ${expect}:\n${o.ours.stderr}`,
      );
    });
  }
});
