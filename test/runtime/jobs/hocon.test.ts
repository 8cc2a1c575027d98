/**
 * The HOCON reader for job configs (src/runtime/jobs/hocon.ts): FLARE's job templates parse (and
 * equal JSON.parse where the text is JSON), what it supports, each refusal with file, line and
 * column, the documented limits at the limit and one past it, and property/fuzz tests: JSON and
 * HOCON-ish prints of random documents parse back equal; mutated and random inputs only ever end in
 * a CohortError, quickly.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { isCohortError } from "../../../src/errors/index.js";
import {
  HOCON_MAX_BYTES,
  HOCON_MAX_DEPTH,
  HOCON_MAX_EXPANSION,
  HOCON_MAX_SUBSTITUTION_CHAIN,
  parseHocon,
  type JsonValue,
} from "../../../src/runtime/jobs/hocon.js";
import { RuntimeErrorCode } from "../../../src/runtime/jobs/errors.js";
import { xorshift32 } from "../../../fuzz/_rng.js";
import { runHoconFuzz } from "../../../fuzz/hocon.js";
import { documentedNumber } from "../../helpers/doc-limits.js";
import { flareSkip, templateConfs, TEMPLATES_DIR } from "./fixtures.js";

const parse = (text: string, file = "job/app/config/config_fed_server.conf"): JsonValue => parseHocon(text, { file });
type Obj = { [key: string]: JsonValue };
const at = (v: JsonValue, ...path: (string | number)[]): JsonValue | undefined =>
  path.reduce<JsonValue | undefined>((x, k) => (x !== null && typeof x === "object" ? (x as Obj)[k as string] : undefined), v);

/** Asserts `text` is refused with `code` and a message naming the file, line and column and matching `re`. */
function refused(text: string, code: string, re: RegExp, where?: string): void {
  assert.throws(
    () => parse(text, "my_job/app/config/config_fed_client.conf"),
    (e: unknown) => {
      assert.ok(isCohortError(e), `a CohortError, got ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, /^my_job\/app\/config\/config_fed_client\.conf(:\d+:\d+)?: /);
      if (where) assert.ok(e.message.startsWith(`my_job/app/config/config_fed_client.conf:${where}: `), e.message);
      assert.match(e.message, re);
      return true;
    },
  );
}

describe("FLARE's job templates", { skip: flareSkip }, () => {
  test("every .conf of every template parses; those that are JSON text equal JSON.parse", () => {
    const confs = templateConfs();
    assert.ok(confs.length >= 15, `${confs.length} .conf files`);
    let json = 0;
    for (const [template, name, path] of confs) {
      const text = readFileSync(path, "utf8");
      const value = parseHocon(text, { file: `${template}/${name}` });
      assert.equal(typeof value, "object", `${template}/${name}`);
      let asJson: unknown;
      try {
        asJson = JSON.parse(text);
      } catch {
        continue; // HOCON proper
      }
      json++;
      assert.deepStrictEqual(value, asJson, `${template}/${name}`);
    }
    assert.ok(json >= 4, `${json} templates are JSON text`);
  });

  test("cyclic_pt's meta.json (JSON) parses as it does with JSON.parse", () => {
    const text = readFileSync(join(TEMPLATES_DIR, "cyclic_pt", "meta.json"), "utf8");
    assert.deepStrictEqual(parse(text), JSON.parse(text));
  });

  test("sag_np: comments, no separators before objects, dotted keys in components", () => {
    const path = templateConfs().find(([t, f]) => t === "sag_np" && f === "config_fed_server.conf")?.[2];
    assert.ok(path);
    const v = parse(readFileSync(path, "utf8"));
    assert.equal(at(v, "format_version"), 2);
    assert.equal(at(v, "components", 3, "args", "key_metric"), "accuracy");
    assert.equal(at(v, "components", 2, "args", "expected_data_kind"), "WEIGHTS");
    assert.equal(at(v, "components", 0, "path"), "nvflare.app_common.np.np_model_persistor.NPModelPersistor");
    assert.equal(at(v, "components", 0, "args"), undefined, "the persistor has no args");
    assert.deepStrictEqual(at(v, "workflows", 0, "args"), {
      min_clients: 2,
      num_rounds: 5,
      start_round: 0,
      wait_time_after_min_received: 0,
      aggregator_id: "aggregator",
      persistor_id: "persistor",
      shareable_generator_id: "shareable_generator",
      train_task_name: "train",
      train_timeout: 0,
    });
    assert.deepStrictEqual(at(v, "task_data_filters"), []);
  });

  test("cyclic_pt, swarm_cse_pt: objects without commas, a root without braces, FLARE's {var} strings kept as text", () => {
    const find = (t: string, f: string): JsonValue => {
      const path = templateConfs().find(([a, b]) => a === t && b === f)?.[2];
      assert.ok(path, `${t}/${f}`);
      return parse(readFileSync(path, "utf8"));
    };
    const cyclic = find("cyclic_pt", "config_fed_server.conf");
    assert.equal(at(cyclic, "server", "heart_beat_timeout"), 600);
    assert.equal(at(cyclic, "components", 0, "args", "model", "path"), "{model_class_path}");
    assert.deepStrictEqual(at(cyclic, "components", 1, "args"), {});
    assert.equal(at(cyclic, "workflows", 0, "args", "task_name"), "train");
    const swarm = find("swarm_cse_pt", "config_fed_server.conf");
    assert.equal((at(swarm, "workflows") as JsonValue[]).length, 2);
    assert.deepStrictEqual(at(swarm, "components", 0, "args"), {});
    assert.equal(at(swarm, "workflows", 1, "args", "eval_task_timeout"), 300);
    assert.deepStrictEqual(find("swarm_cse_pt", "meta.conf"), {
      name: "swarm_cse_pt",
      resource_spec: {},
      deploy_map: { app: ["@ALL"] },
      min_clients: 2,
      mandatory_clients: [],
    });
    assert.deepStrictEqual(at(find("swarm_cse_pt", "config_fed_client.conf"), "executors", 1, "tasks"), ["swarm_*"]);
  });
});

describe("what the reader supports", () => {
  test("objects with or without braces, '=', ':' or nothing before '{', quoted and unquoted keys", () => {
    const v = { a: 1, "b c": { d: true }, e: { f: null } };
    for (const text of [
      'a = 1\n"b c" { d = true }\ne: { f: null }',
      '{ a: 1, "b c": { "d": true }, e { f = null } }',
      'a=1,"b c"={d:true},e{f:null},',
      '\n\n  a = 1 # one\n  // comment line\n"b c" {\n d = true\n}\ne {\n  f = null\n}\n',
    ])
      assert.deepStrictEqual(parse(text), v, text);
    assert.deepStrictEqual(parse(""), {});
    assert.deepStrictEqual(parse("# only a comment\n"), {});
  });

  test("dotted keys nest and merge; a repeated key merges objects and a later non-object wins", () => {
    assert.deepStrictEqual(parse('args.key_metric = "accuracy"\nargs.other = 2\nargs { third = 3 }'), { args: { key_metric: "accuracy", other: 2, third: 3 } });
    assert.deepStrictEqual(parse("a { x = 1, y { z = 1 } }\na { y { w = 2 } }"), { a: { x: 1, y: { z: 1, w: 2 } } });
    assert.deepStrictEqual(parse("a { x = 1 }\na = 5"), { a: 5 });
    assert.deepStrictEqual(parse("a = 5\na { x = 1 }"), { a: { x: 1 } });
    assert.deepStrictEqual(parse("a = 5\na.x = 1"), { a: { x: 1 } });
    assert.deepStrictEqual(parse('"a.b" = 1\na.b = 2'), { "a.b": 1, a: { b: 2 } });
    assert.deepStrictEqual(parse("10.5 = x"), { "10": { "5": "x" } });
  });

  test("arrays split by commas or new lines, trailing commas, nested", () => {
    assert.deepStrictEqual(parse("a = [1, 2,\n3\n4,\n]"), { a: [1, 2, 3, 4] });
    assert.deepStrictEqual(parse("a = [\n  { x = 1 }\n  { x = 2 },\n]"), { a: [{ x: 1 }, { x: 2 }] });
    assert.deepStrictEqual(parse("a = [[], [[]], {}]"), { a: [[], [[]], {}] });
    assert.deepStrictEqual(parse("[1, 2]"), [1, 2]);
  });

  test("strings: JSON escapes, triple quotes, unquoted values trimmed, concatenation", () => {
    assert.deepStrictEqual(parse('a = "x\\"y\\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00"'), { a: 'x"y\\ / \b\f\n\r\t é 😀' });
    assert.deepStrictEqual(parse('a = """line 1\n"quoted" \\n raw"""'), { a: 'line 1\n"quoted" \\n raw' });
    assert.deepStrictEqual(parse('a = """x"""""'), { a: 'x""' });
    assert.deepStrictEqual(parse("a =   python3 -u custom/train.py   # run it\nb = foo//bar"), { a: "python3 -u custom/train.py", b: "foo" });
    assert.deepStrictEqual(parse('a = foo "bar baz" 1 true'), { a: "foo bar baz 1 true" });
    assert.deepStrictEqual(parse("a = 10s\nb = 1.5.2\nc = -\nd = truex"), { a: "10s", b: "1.5.2", c: "-", d: "truex" });
  });

  test("numbers, true, false, null", () => {
    assert.deepStrictEqual(parse("a = 1\nb = -2.5\nc = 1e+21\nd = 5e-324\ne = 0\nf = true\ng = false\nh = null"), {
      a: 1,
      b: -2.5,
      c: 1e21,
      d: 5e-324,
      e: 0,
      f: true,
      g: false,
      h: null,
    });
  });

  test("substitutions from the same document: values, objects merged, arrays and strings concatenated, optional ones", () => {
    const v = parse(
      [
        "base { lr = 0.01, epochs = 2 }",
        "model = { kind = mlp }",
        `train = \${base} { epochs = 5 }`,
        "list = [1, 2]",
        `more = \${list} [3]`,
        'name = "site"',
        `label = \${name}-\${base.epochs} runs`,
        `nested { ref = \${model.kind} }`,
        `opt = \${?not.there}`,
        "keep = 1",
        `keep = \${?not.there}`,
        `arr = [1, \${?nothing}, 2]`,
        `later = \${defined.below}`,
        "defined.below = 7",
      ].join("\n"),
    );
    assert.deepStrictEqual(v, {
      base: { lr: 0.01, epochs: 2 },
      model: { kind: "mlp" },
      train: { lr: 0.01, epochs: 5 },
      list: [1, 2],
      more: [1, 2, 3],
      name: "site",
      label: "site-2 runs",
      nested: { ref: "mlp" },
      keep: 1,
      arr: [1, 2],
      later: 7,
      defined: { below: 7 },
    });
  });

  test("the result is a plain tree: substituted values are copies, keys are own properties", () => {
    const v = parse(`a { x = [1] }\nb = \${a}\nc = \${a}\n"constructor" = 1`) as Obj;
    assert.notEqual(v["b"], v["c"]);
    assert.notEqual(at(v, "b", "x"), at(v, "a", "x"));
    assert.ok(Object.hasOwn(v, "constructor"));
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
  });
});

describe("refusals name the file, line and column, what and the fix", () => {
  test("include is refused in every form: a job's config never reads other files", () => {
    for (const form of [
      'include "other.conf"',
      'include file("/etc/passwd")',
      'include url("http://example.org/x.conf")',
      'include classpath("x")',
      'include required("x.conf")',
      'include   required(file("x"))',
    ])
      refused(
        `a = 1\n${form}\n`,
        RuntimeErrorCode.ConfigInclude,
        /include is refused: a job's config must not read other files.*copy the settings into this file/,
        "2:1",
      );
    refused('a {\n  include "x.conf"\n}', RuntimeErrorCode.ConfigInclude, /include is refused/, "2:3");
    // A key called include is a key.
    assert.deepStrictEqual(parse("include = 1\ninclude.x { y = 2 }"), { include: { x: { y: 2 } } });
  });

  test("a substitution the file does not define is refused, never read from the process environment", () => {
    assert.ok(process.env["PATH"], "the test process has PATH set");
    refused(
      `a = 1\nb = \${PATH}`,
      RuntimeErrorCode.ConfigSubstitution,
      /the substitution "\$\{PATH\}" is not defined in this file \(.*never from the process environment\); define "PATH"/,
      "2:5",
    );
    refused(`a { b = 1 }\nc = \${a.c}`, RuntimeErrorCode.ConfigSubstitution, /"\$\{a\.c\}" is not defined/, "2:5");
    refused(`a = [1]\nc = \${a.x}`, RuntimeErrorCode.ConfigSubstitution, /not defined/);
    refused(`x = \${?opt}\nc = \${x}`, RuntimeErrorCode.ConfigSubstitution, /"\$\{x\}" is not defined/);
  });

  test("cycles, self-referential values and += are refused", () => {
    refused("a = [1]\na += [2]", RuntimeErrorCode.ConfigSyntax, /'\+=' \(append to "a"\) is refused; write the whole array in one place/, "2:3");
    refused("a = 1+2", RuntimeErrorCode.ConfigSyntax, /unexpected "\+" in a value/, "1:6");
    refused(`a = \${b}\nb = \${a}`, RuntimeErrorCode.ConfigSubstitution, /is part of a cycle \("\$\{b\}" → "\$\{a\}"\).*cannot depend on itself/);
    refused(`a = \${a}`, RuntimeErrorCode.ConfigSubstitution, /cycle/, "1:5");
    refused(`a = 1\na = \${a} 2`, RuntimeErrorCode.ConfigSubstitution, /cycle/);
    refused(`a { b = \${a} }`, RuntimeErrorCode.ConfigSubstitution, /cycle/);
  });

  test("anything unparseable is refused with where and how to fix it", () => {
    const cases: [string, RegExp, string][] = [
      ["a {\n  b = 1\n", /the object is not closed; add the '}' that closes the '\{' at 1:3/, "1:3"],
      ["a = [1, 2", /the array is not closed/, "1:5"],
      ['a = "open\nb = 1', /the string is not closed/, "1:5"],
      ['a = "\\q"', /invalid escape \\q in a string/, "1:6"],
      ['a = "\u0001"', /a control character \(U\+0001\) in a string; escape it/, "1:6"],
      ['a = """never closed', /the """ string is not closed/, "1:5"],
      ["a = 1 = 2", /unexpected "=" in a value; quote the value/, "1:7"],
      ["a = [1,,2]", /unexpected ','/, "1:8"],
      ["a = 1,,\nb = 2", /unexpected ','/, "1:7"],
      ["a 1", /expected '=', ':' or '\{' after the key "a 1"/, "1:4"],
      ["= 1", /expected a key/, "1:1"],
      ["a..b = 1", /empty path element in "a\.\.b"; quote a key that holds a "\."/, "1:1"],
      ["a = ", /expected a value, found the end of the file/, "1:5"],
      ["a = {x = 1} foo", /cannot concatenate object and string values/, "1:5"],
      ["{ a = 1 } b = 2", /after the document's closing bracket/, "1:11"],
      [`a = \${}`, /expected a path inside \$\{…\}/, "1:7"],
      ["a = ${b", /expected '\}' to close the substitution/, "1:5"],
      ["a = 1 b = 2", /unexpected "=" in a value/, "1:9"],
      ["__proto__ { polluted = true }", /the key "__proto__" is not allowed/, "1:1"],
      ["a = `x`", /unexpected "`" in a value/, "1:5"],
    ];
    for (const [text, re, where] of cases) refused(text, RuntimeErrorCode.ConfigSyntax, re, where);
  });
});

describe("limits, at the limit and one past it", () => {
  test("the documented limits are the code's", () => {
    assert.equal(HOCON_MAX_BYTES, documentedNumber("docs/runtime.md", /at most (\d+) (MiB) \(`HOCON_MAX_BYTES`\)/));
    assert.equal(HOCON_MAX_DEPTH, documentedNumber("docs/runtime.md", /nest at most (\d+) deep \(`HOCON_MAX_DEPTH`\)/));
    assert.equal(HOCON_MAX_SUBSTITUTION_CHAIN, documentedNumber("docs/runtime.md", /chain at most (\d+) deep \(`HOCON_MAX_SUBSTITUTION_CHAIN`\)/));
    assert.equal(HOCON_MAX_EXPANSION, documentedNumber("docs/runtime.md", /at most (\d+) values and characters \(`HOCON_MAX_EXPANSION`\)/));
  });

  test("size: a file of exactly HOCON_MAX_BYTES parses; one byte more is refused", () => {
    const text = (n: number): string => `a = "${"x".repeat(n - 6)}"`;
    assert.equal(Buffer.byteLength(text(HOCON_MAX_BYTES)), HOCON_MAX_BYTES);
    assert.equal((parse(text(HOCON_MAX_BYTES)) as Obj)["a"], "x".repeat(HOCON_MAX_BYTES - 6));
    refused(
      text(HOCON_MAX_BYTES + 1),
      RuntimeErrorCode.ConfigLimit,
      new RegExp(`${HOCON_MAX_BYTES + 1} bytes; a job's config file holds at most ${HOCON_MAX_BYTES} bytes`),
    );
    // Bytes, not characters: 'é' is two.
    refused(`a = "${"é".repeat(HOCON_MAX_BYTES / 2)}"`, RuntimeErrorCode.ConfigLimit, /holds at most/);
  });

  test("depth: HOCON_MAX_DEPTH levels parse; one more is refused (brackets and dotted keys), never a stack overflow", () => {
    const arrays = (levels: number): string => `a = ${"[".repeat(levels - 1)}${"]".repeat(levels - 1)}`; // the root object is level 1
    parse(arrays(HOCON_MAX_DEPTH));
    refused(arrays(HOCON_MAX_DEPTH + 1), RuntimeErrorCode.ConfigLimit, new RegExp(`nest more than ${HOCON_MAX_DEPTH} deep`));
    const dotted = (levels: number): string => `${Array.from({ length: levels }, () => "k").join(".")} = 1`; // the root and levels - 1 objects
    parse(dotted(HOCON_MAX_DEPTH));
    refused(dotted(HOCON_MAX_DEPTH + 1), RuntimeErrorCode.ConfigLimit, new RegExp(`nests more than ${HOCON_MAX_DEPTH} deep`));
    refused(`a = ${"{b = ".repeat(200_000)}`, RuntimeErrorCode.ConfigLimit, /nest more than/);
    // Substitutions cannot build what the text could not.
    const deep = `v = ${"[".repeat(40)}${"]".repeat(40)}\nw = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\${v}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`;
    refused(deep, RuntimeErrorCode.ConfigLimit, new RegExp(`substitutions nest objects and arrays more than ${HOCON_MAX_DEPTH} deep`));
  });

  test("substitution chains: HOCON_MAX_SUBSTITUTION_CHAIN deep resolve; one more is refused", () => {
    const chain = (n: number): string => `${Array.from({ length: n }, (_, i) => `k${i} = \${k${i + 1}}`).join("\n")}\nk${n} = 1`;
    assert.equal((parse(chain(HOCON_MAX_SUBSTITUTION_CHAIN)) as Obj)["k0"], 1);
    refused(chain(HOCON_MAX_SUBSTITUTION_CHAIN + 1), RuntimeErrorCode.ConfigLimit, new RegExp(`more than ${HOCON_MAX_SUBSTITUTION_CHAIN} deep`));
    refused(chain(20_000), RuntimeErrorCode.ConfigLimit, /substitutions depend on substitutions/);
  });

  test("expansion: at most HOCON_MAX_EXPANSION values and characters; one more is refused; doubling is refused quickly", () => {
    // Each value counts 1, each string and key its characters; each substitution counts what it copies.
    // a = "<L x>", b = ${a}, c = ${a}: two copies (2 × (1 + L)) and the document (1 + 3 × (1 + 1 + L)) = 9 + 5L.
    const doc = (units: number): string => {
      const length = (units - 9) / 5;
      assert.ok(Number.isInteger(length));
      return `a = "${"x".repeat(length)}"\nb = \${a}\nc = \${a}`;
    };
    assert.equal(HOCON_MAX_EXPANSION % 5, 4, "9 + 5L hits the limit exactly");
    parse(doc(HOCON_MAX_EXPANSION));
    refused(doc(HOCON_MAX_EXPANSION + 5), RuntimeErrorCode.ConfigLimit, new RegExp(`expand the document past ${HOCON_MAX_EXPANSION} values and characters`));
    const doubling = (line: (i: number) => string, first: string): string => `${first}\n${Array.from({ length: 64 }, (_, i) => line(i)).join("\n")}`;
    for (const text of [
      doubling((i) => `a${i + 1} = [\${a${i}}, \${a${i}}]`, "a0 = [1, 1]"),
      doubling((i) => `a${i + 1} = \${a${i}}\${a${i}}`, "a0 = xxxxxxxx"),
      doubling((i) => `a${i + 1} = { l = \${a${i}}, r = \${a${i}} }`, "a0 = { v = 1 }"),
      doubling((i) => `a${i + 1} = \${a${i}} \${a${i}}`, "a0 = [1]"),
    ]) {
      const started = performance.now();
      refused(text, RuntimeErrorCode.ConfigLimit, /expand the document past|nest objects and arrays more than/);
      assert.ok(performance.now() - started < 5000, "refused before doing the work");
    }
  });
});

/** Random JSON documents: keys without "__proto__" (refused by the reader, not a JSON rule). */
const key = fc
  .oneof(fc.string({ maxLength: 8 }), fc.constantFrom("a", "b_c", "x-y", "with.dot", "sp ace", "", "include", "true", "10"))
  .filter((k) => k !== "__proto__");
const { doc } = fc.letrec<{ doc: JsonValue; value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: "binary", maxLength: 20 }),
    fc.constantFrom("plain", "foo_bar", "python3 -u x.py", `\${not.a.substitution}`, "a # not a comment", '"""', "x\ny"),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(key, tie("value"), { maxKeys: 5 }),
  ),
  doc: fc.oneof(fc.dictionary(key, tie("value"), { maxKeys: 6 }), fc.array(tie("value"), { maxLength: 4 })),
}));

/** Choices for the printer, from a seed, so a failing case replays. */
function chooser(seed: number): (n: number) => number {
  const next = xorshift32(seed);
  return (n) => next() % n;
}

const SAFE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const SAFE_WORD = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED = new Set(["true", "false", "null", "include"]);

/** Prints a JSON value as HOCON a person might write: braces or not at the root, =/:/nothing, unquoted words, dotted keys, split objects, comments. */
function hoconOf(v: JsonValue, pick: (n: number) => number, root = true): string {
  if (v === null || typeof v !== "object") {
    if (typeof v !== "string") return JSON.stringify(v);
    if (SAFE_WORD.test(v) && !RESERVED.has(v) && pick(2) === 0) return v;
    if (!v.includes('"""') && !v.endsWith('"') && pick(4) === 0) return `"""${v}"""`;
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) {
    const items = v.map((x) => hoconOf(x, pick, false));
    const seps = [", ", ",\n", "\n", " ,"];
    return `[${pick(2) ? "\n" : ""}${items.map((it, i) => it + (i < items.length - 1 ? (seps[pick(seps.length)] as string) : pick(2) ? "," : "")).join("")}${pick(2) ? "\n" : ""}]`;
  }
  const keyOf = (k: string): string => (SAFE_KEY.test(k) && !RESERVED.has(k) && pick(3) > 0 ? k : JSON.stringify(k));
  const fields: string[] = [];
  for (const [k, value] of Object.entries(v)) {
    const isObj = value !== null && typeof value === "object" && !Array.isArray(value);
    const inner = isObj ? Object.entries(value as Obj) : [];
    const [ik, iv] = inner[0] ?? [];
    if (isObj && inner.length === 1 && ik !== undefined && SAFE_KEY.test(k) && SAFE_KEY.test(ik) && !RESERVED.has(k) && !RESERVED.has(ik) && pick(2) === 0) {
      fields.push(`${k}.${ik} = ${hoconOf(iv as JsonValue, pick, false)}`); // dotted key
      continue;
    }
    if (isObj && inner.length >= 2 && pick(3) === 0) {
      // The same key twice: the two objects merge.
      const half = Math.ceil(inner.length / 2);
      fields.push(`${keyOf(k)} ${hoconOf(Object.fromEntries(inner.slice(0, half)), pick, false)}`);
      fields.push(`${keyOf(k)} = ${hoconOf(Object.fromEntries(inner.slice(half)), pick, false)}`);
      continue;
    }
    const seps = isObj ? [" = ", ": ", " ", "="] : [" = ", ":", " : ", "="];
    fields.push(`${keyOf(k)}${seps[pick(seps.length)]}${hoconOf(value, pick, false)}`);
  }
  const body = fields
    .map((f, i) => {
      const last = i === fields.length - 1;
      const comment = pick(4) === 0 ? (pick(2) ? " # note" : " // note") : "";
      if (comment) return `${f}${comment}\n`;
      return f + (last ? (pick(2) ? ",\n" : "\n") : ([",", ",\n", "\n"][pick(3)] as string));
    })
    .join("");
  return root && pick(2) === 0 ? body : `{\n${body}}`;
}

describe("properties", () => {
  test("random JSON documents printed as JSON parse back equal to JSON.parse", () => {
    fc.assert(
      fc.property(doc, fc.constantFrom(undefined, 2, "\t"), (v, indent) => {
        const text = JSON.stringify(v, null, indent);
        assert.deepStrictEqual(parse(text), JSON.parse(text));
      }),
      { numRuns: 400 },
    );
  });

  test("random documents printed as HOCON-ish text parse back equal", () => {
    fc.assert(
      fc.property(doc, fc.integer({ min: 1, max: 0x7fffffff }), (v, seed) => {
        const text = hoconOf(v, chooser(seed));
        assert.deepStrictEqual(parse(text), JSON.parse(JSON.stringify(v)), text);
      }),
      { numRuns: 400 },
    );
  });

  test("random strings and bytes only ever end in a value or a CohortError", () => {
    const onlyCohortErrors = (text: string): void => {
      try {
        parse(text);
      } catch (err) {
        assert.ok(isCohortError(err), `${String(err)} for ${JSON.stringify(text)}`);
      }
    };
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 200 }), onlyCohortErrors), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => onlyCohortErrors(Buffer.from(bytes).toString("utf8"))),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("{", "}", "[", "]", `\${a}`, `\${?b}`, "a", "=", ":", ",", "\n", '"x"', '"""', "#", "include ", ".", " ", "a.b"), {
          maxLength: 60,
        }),
        (parts) => onlyCohortErrors(parts.join("")),
      ),
      { numRuns: 2000 },
    );
  });

  test("a short fuzz run (mutated templates and samples) finds no input that escapes CohortError or runs long", { skip: flareSkip }, async () => {
    const corpus = templateConfs().map(([, , path]) => readFileSync(path, "utf8"));
    const report = await runHoconFuzz({ seconds: 2.5, corpus, maxMsPerInput: 2000 });
    assert.equal(
      report.violation,
      undefined,
      report.violation && `seed ${report.seed}: ${report.violation.error}\ninput ${JSON.stringify(report.violation.input)}`,
    );
    assert.ok(report.iterations > 500, `only ${report.iterations} inputs in 2.5 s`);
    assert.ok(report.refused > 0 && report.parsed > 0);
  });
});
