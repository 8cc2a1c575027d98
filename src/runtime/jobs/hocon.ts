/**
 * A strict reader for the HOCON that FLARE job configs use (`config_fed_*.conf`, `meta.conf`).
 * Job configs are hostile input, so this is a pure function of the text: no I/O, no eval, no
 * environment. It reads: objects with or without outer braces; `=`, `:` or nothing before `{`;
 * quoted, unquoted and dotted keys (`args.key_metric = "accuracy"` nests and merges); repeated keys
 * (objects merge, anything else: the later wins); arrays split by commas or new lines (trailing
 * commas too); JSON strings, `"""raw"""` strings, unquoted strings, numbers, true/false/null;
 * value concatenation (strings, arrays, objects); `#` and `//` comments; and `${path}` / `${?path}`
 * substitutions resolved from the same document only (cycles refused). It refuses `include` in any
 * form (a job's config must not read other files), a substitution the document does not define
 * (never the process environment), `+=`, and anything else it cannot read, naming the file, line
 * and column. Bounded: input size, nesting depth, substitution depth and how much substitutions
 * may expand the document (no exponential blow-up).
 */
import { CohortError } from "../../errors/index.js";
import { RuntimeErrorCode } from "./errors.js";

/** A job's .conf file holds at most this many bytes (UTF-8). */
export const HOCON_MAX_BYTES = 1024 * 1024;
/** Objects and arrays nest at most this deep (dotted keys count, and so do substituted values). */
export const HOCON_MAX_DEPTH = 64;
/** Values and characters that substitutions may produce in all (each substitution counts the size of what it copies). */
export const HOCON_MAX_EXPANSION = 4 * 1024 * 1024;
/** Substitutions whose resolution needs another substitution, nested at most this deep. */
export const HOCON_MAX_SUBSTITUTION_CHAIN = 32;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface HoconOptions {
  /** The file as the user knows it (errors name it). */
  readonly file: string;
}

type Node = ObjNode | ArrNode | ScalarNode | WsNode | SubstNode | ConcatNode | MergeNode;
interface ObjNode {
  readonly kind: "object";
  readonly at: number;
  readonly fields: Map<string, Node>;
}
interface ArrNode {
  readonly kind: "array";
  readonly at: number;
  readonly items: Node[];
}
interface ScalarNode {
  readonly kind: "scalar";
  readonly at: number;
  readonly value: string | number | boolean | null;
  /** The text as written (numbers, true/false/null keep it in a string concatenation). */
  readonly text: string;
}
interface WsNode {
  readonly kind: "ws";
  readonly at: number;
  readonly text: string;
}
interface SubstNode {
  readonly kind: "subst";
  readonly at: number;
  readonly path: string[];
  readonly optional: boolean;
  readonly expr: string;
}
interface ConcatNode {
  readonly kind: "concat";
  readonly at: number;
  readonly parts: Node[];
}
/** A later value over an earlier one whose kind is only known once resolved (`a = ${b}` then `a.c = 1`). */
interface MergeNode {
  readonly kind: "merge";
  readonly at: number;
  readonly base: Node;
  readonly top: Node;
}

/** Characters an unquoted string or key cannot hold (HOCON's list). */
const FORBIDDEN = new Set(["$", '"', "{", "}", "[", "]", ":", "=", ",", "+", "#", "`", "^", "?", "!", "@", "*", "&", "\\"]);
const UNICODE_SPACE = /[\p{Zs}\u2028\u2029]/u;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES = new Map([
  ['"', '"'],
  ["\\", "\\"],
  ["/", "/"],
  ["b", "\b"],
  ["f", "\f"],
  ["n", "\n"],
  ["r", "\r"],
  ["t", "\t"],
]);
const INCLUDE_FORMS = ['"', "url(", "file(", "classpath(", "required("];
const UNDEFINED: unique symbol = Symbol("undefined");
type Resolved = JsonValue | typeof UNDEFINED;

function isWs(c: string): boolean {
  return (
    c === " " ||
    c === "\t" ||
    c === "\r" ||
    c === "\v" ||
    c === "\f" ||
    c === "\uFEFF" ||
    (c >= "\u001c" && c <= "\u001f") ||
    (c > "\u007f" && UNICODE_SPACE.test(c))
  );
}

/** Text from the document as a message shows it: quoted, escaped, at most 80 characters. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

/** Where an offset is, 1-based, for messages. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: offset - start + 1 };
}

function fail(code: string, text: string, file: string, at: number, what: string, fix: string): never {
  const { line, column } = lineColumn(text, at);
  throw new CohortError(code, `${file}:${line}:${column}: ${what}; ${fix}`, { file, line, column, fix });
}

class Parser {
  private pos = 0;

  constructor(
    private readonly src: string,
    private readonly file: string,
  ) {}

  private error(what: string, fix: string, at = this.pos, code: string = RuntimeErrorCode.ConfigSyntax): never {
    return fail(code, this.src, this.file, at, what, fix);
  }

  private peek(offset = 0): string {
    return this.src[this.pos + offset] ?? "";
  }

  private atComment(): boolean {
    const c = this.peek();
    return c === "#" || (c === "/" && this.peek(1) === "/");
  }

  private atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  /** Spaces and comments on this line (not the new line itself). */
  private skipLine(): void {
    for (;;) {
      while (!this.atEnd() && isWs(this.peek())) this.pos++;
      if (!this.atComment()) return;
      const nl = this.src.indexOf("\n", this.pos);
      this.pos = nl < 0 ? this.src.length : nl;
    }
  }

  /** Spaces, comments and new lines. */
  private skipAll(): void {
    for (;;) {
      this.skipLine();
      if (this.peek() !== "\n") return;
      this.pos++;
    }
  }

  private describe(c: string): string {
    return c === "" ? "the end of the file" : c === "\n" ? "a new line" : JSON.stringify(c);
  }

  parseDocument(): Node {
    this.skipAll();
    let root: Node;
    if (this.peek() === "{") root = this.parseObject(1);
    else if (this.peek() === "[") root = this.parseArray(1);
    else return this.parseFields(this.pos, 1, false);
    this.skipAll();
    if (!this.atEnd()) this.error(`unexpected ${this.describe(this.peek())} after the document's closing bracket`, "remove it, or put it inside the braces");
    return root;
  }

  private parseObject(depth: number): ObjNode {
    const at = this.pos;
    this.pos++; // {
    return this.parseFields(at, depth, true);
  }

  private checkDepth(depth: number, at: number): void {
    if (depth > HOCON_MAX_DEPTH)
      this.error(`objects and arrays nest more than ${HOCON_MAX_DEPTH} deep`, "flatten the configuration", at, RuntimeErrorCode.ConfigLimit);
  }

  private parseFields(at: number, depth: number, braced: boolean): ObjNode {
    this.checkDepth(depth, at);
    const obj: ObjNode = { kind: "object", at, fields: new Map() };
    for (;;) {
      this.skipAll();
      if (this.atEnd()) {
        if (braced) this.error("the object is not closed", `add the '}' that closes the '{' at ${this.where(at)}`, at);
        return obj;
      }
      if (braced && this.peek() === "}") {
        this.pos++;
        return obj;
      }
      if (this.peek() === ",") this.error("unexpected ','", "remove the extra comma");
      this.parseField(obj, depth);
      this.endOfEntry(braced ? "}" : "", "the value");
    }
  }

  private where(at: number): string {
    const { line, column } = lineColumn(this.src, at);
    return `${line}:${column}`;
  }

  /** After a field or an array element: a comma, a new line, or the closing bracket. */
  private endOfEntry(close: string, what: string): void {
    this.skipLine();
    const newLine = this.peek() === "\n";
    this.skipAll();
    if (this.peek() === ",") this.pos++;
    else if (!newLine && !this.atEnd() && this.peek() !== close)
      this.error(
        `unexpected ${this.describe(this.peek())} after ${what}`,
        "separate entries with a comma or a new line (quote a string that has spaces and symbols)",
      );
  }

  private parseField(obj: ObjNode, depth: number): void {
    const at = this.pos;
    this.refuseInclude();
    const path = this.parseKey("a key");
    this.skipAll();
    const c = this.peek();
    if (c === "+" && this.peek(1) === "=")
      this.error(
        `'+=' (append to ${quote(path.join("."))}) is refused`,
        "write the whole array in one place (Cohort reads a subset of HOCON: no self-referential values)",
      );
    if (c === "=" || c === ":") {
      this.pos++;
      this.skipAll();
    } else if (c !== "{") this.error(`expected '=', ':' or '{' after the key ${quote(path.join("."))}, found ${this.describe(c)}`, "write key = value");
    if (depth + path.length - 1 > HOCON_MAX_DEPTH)
      this.error(`the key ${quote(path.join("."))} nests more than ${HOCON_MAX_DEPTH} deep`, "use a shorter path", at, RuntimeErrorCode.ConfigLimit);
    const value = this.parseValue(depth + path.length);
    setPath(obj, path, value, at, (k) => this.error(`the key ${quote(k)} is not allowed`, "rename it", at));
  }

  private refuseInclude(): void {
    if (!this.src.startsWith("include", this.pos)) return;
    let p = this.pos + "include".length;
    if (!isWs(this.src[p] ?? "")) return;
    while (p < this.src.length && isWs(this.src[p] ?? "")) p++;
    if (INCLUDE_FORMS.some((f) => this.src.startsWith(f, p)))
      this.error(
        'include is refused: a job\'s config must not read other files (include "…", file(), url(), classpath(), required())',
        "copy the settings into this file",
        this.pos,
        RuntimeErrorCode.ConfigInclude,
      );
  }

  /** A path expression (a key, or what `${…}` names): quoted and unquoted parts, '.' between elements. */
  private parseKey(what: string): string[] {
    const start = this.pos;
    const segments: string[] = [];
    let current = "";
    let has = false;
    let pendingWs = "";
    let read = false;
    for (;;) {
      const c = this.peek();
      if (c === '"') {
        if (has) current += pendingWs;
        pendingWs = "";
        current += this.peek(1) === '"' && this.peek(2) === '"' ? this.parseTripleQuoted() : this.parseQuoted();
        has = true;
        read = true;
      } else if (c !== "" && c !== "\n" && isWs(c)) {
        pendingWs += c;
        this.pos++;
      } else if (this.unquotedStart()) {
        if (has) current += pendingWs;
        pendingWs = "";
        const pieces = this.readUnquoted().split(".");
        read = true;
        current += pieces[0] ?? "";
        has ||= (pieces[0] ?? "") !== "";
        for (const piece of pieces.slice(1)) {
          if (!has) this.error(`empty path element in ${quote(this.src.slice(start, this.pos).trim())}`, 'quote a key that holds a "."', start);
          segments.push(current);
          current = piece;
          has = piece !== "";
        }
      } else break;
    }
    if (!read) this.error(`expected ${what}, found ${this.describe(this.peek())}`, "write key = value", start);
    if (!has) this.error(`empty path element in ${quote(this.src.slice(start, this.pos).trim())}`, 'quote a key that holds a "."', start);
    segments.push(current);
    return segments;
  }

  private unquotedStart(): boolean {
    const c = this.peek();
    return c !== "" && c !== "\n" && !isWs(c) && !FORBIDDEN.has(c) && !this.atComment();
  }

  private readUnquoted(): string {
    const start = this.pos;
    while (this.unquotedStart()) this.pos++;
    return this.src.slice(start, this.pos);
  }

  private parseQuoted(): string {
    const start = this.pos;
    this.pos++; // "
    const out: string[] = [];
    let run = this.pos;
    for (;;) {
      const c = this.peek();
      if (c === "" || c === "\n") this.error("the string is not closed", 'end it with " on the same line (or use """…""" for several lines)', start);
      if (c === '"') {
        out.push(this.src.slice(run, this.pos));
        this.pos++;
        return out.join("");
      }
      if (c < " ") this.error(`a control character (U+${c.charCodeAt(0).toString(16).padStart(4, "0")}) in a string`, "escape it (\\n, \\t, \\u0000…)");
      if (c !== "\\") {
        this.pos++;
        continue;
      }
      out.push(this.src.slice(run, this.pos));
      const e = this.peek(1);
      const simple = ESCAPES.get(e);
      if (simple !== undefined) {
        out.push(simple);
        this.pos += 2;
      } else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(this.src.slice(this.pos + 2, this.pos + 6))) {
        out.push(String.fromCharCode(Number.parseInt(this.src.slice(this.pos + 2, this.pos + 6), 16)));
        this.pos += 6;
      } else this.error(`invalid escape \\${e === "" ? "" : e} in a string`, 'use one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX');
      run = this.pos;
    }
  }

  private parseTripleQuoted(): string {
    const start = this.pos;
    let end = this.src.indexOf('"""', start + 3);
    if (end < 0) this.error('the """ string is not closed', 'end it with """', start);
    while (this.src[end + 3] === '"') end++;
    this.pos = end + 3;
    return this.src.slice(start + 3, end);
  }

  private parseSubstitution(): SubstNode {
    const at = this.pos;
    this.pos += 2; // ${
    const optional = this.peek() === "?";
    if (optional) this.pos++;
    while (isWs(this.peek())) this.pos++;
    const path = this.parseKey(`a path inside \${…}`);
    while (isWs(this.peek())) this.pos++;
    if (this.peek() !== "}") this.error(`expected '}' to close the substitution, found ${this.describe(this.peek())}`, `write \${path.to.value}`, at);
    this.pos++;
    return { kind: "subst", at, path, optional, expr: this.src.slice(at, this.pos) };
  }

  private parseArray(depth: number): ArrNode {
    const at = this.pos;
    this.checkDepth(depth, at);
    this.pos++; // [
    const items: Node[] = [];
    for (;;) {
      this.skipAll();
      if (this.atEnd()) this.error("the array is not closed", `add the ']' that closes the '[' at ${this.where(at)}`, at);
      if (this.peek() === "]") {
        this.pos++;
        return { kind: "array", at, items };
      }
      if (this.peek() === ",") this.error("unexpected ','", "remove the extra comma");
      items.push(this.parseValue(depth + 1));
      this.endOfEntry("]", "an array element");
    }
  }

  /**
   * One value: simple values and the spaces between them up to the end of the line, a comma, a
   * closing bracket or a comment. Adjacent strings (and the spaces between them) are joined as they
   * are read, so a long unquoted line is one string, not a node per word.
   */
  private parseValue(depth: number): Node {
    const at = this.pos;
    const parts: Node[] = [];
    let run: { at: number; texts: string[]; only: ScalarNode | undefined } | undefined;
    let ws: WsNode | undefined;
    const endRun = (): void => {
      if (!run) return;
      const joined = run.texts.join("");
      parts.push(run.only ?? { kind: "scalar", at: run.at, value: joined, text: joined });
      run = undefined;
    };
    const text = (node: ScalarNode): void => {
      if (run) {
        if (ws) run.texts.push(ws.text);
        run.texts.push(node.text);
        run.only = undefined;
      } else {
        if (ws) parts.push(ws);
        run = { at: node.at, texts: [node.text], only: node };
      }
      ws = undefined;
    };
    const other = (node: Node): void => {
      endRun();
      if (ws) parts.push(ws);
      ws = undefined;
      parts.push(node);
    };
    for (;;) {
      const c = this.peek();
      if (c === "" || c === "\n" || c === "," || c === "}" || c === "]" || this.atComment()) break;
      const p = this.pos;
      if (isWs(c)) {
        while (isWs(this.peek())) this.pos++;
        // Spaces count only between two values (leading and trailing ones are not part of the value).
        if (run || parts.length > 0) ws = { kind: "ws", at: p, text: this.src.slice(p, this.pos) };
      } else if (c === '"') {
        const s = this.peek(1) === '"' && this.peek(2) === '"' ? this.parseTripleQuoted() : this.parseQuoted();
        text({ kind: "scalar", at: p, value: s, text: s });
      } else if (c === "$" && this.peek(1) === "{") other(this.parseSubstitution());
      else if (c === "{") other(this.parseObject(depth));
      else if (c === "[") other(this.parseArray(depth));
      else if (FORBIDDEN.has(c))
        this.error(`unexpected ${this.describe(c)} in a value`, "quote the value to use this character in a string (Cohort reads no '+=')");
      else text(this.parseUnquotedValue());
    }
    endRun();
    const first = parts[0];
    if (!first)
      this.error(
        `expected a value, found ${this.describe(this.peek())}`,
        'write a value (a string, number, true, false, null, {…} or […]); quote an empty string: ""',
        at,
      );
    return parts.length === 1 ? first : { kind: "concat", at, parts };
  }

  /** Unquoted text: a number, true/false/null when it is the whole value, else a string. */
  private parseUnquotedValue(): ScalarNode {
    const at = this.pos;
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.src);
    if (m) {
      this.pos += m[0].length;
      if (!this.unquotedStart()) return { kind: "scalar", at, value: Number(m[0]), text: m[0] };
      this.pos = at;
    }
    const text = this.readUnquoted();
    const value = text === "true" ? true : text === "false" ? false : text === "null" ? null : text;
    return { kind: "scalar", at, value, text };
  }
}

const unresolved = (n: Node): boolean => n.kind === "subst" || n.kind === "concat" || n.kind === "merge";

/** Sets `path` in `obj` to `value` as HOCON does: objects merge, anything else replaces what was there. */
function setPath(obj: ObjNode, path: readonly string[], value: Node, at: number, refuse: (key: string) => never): void {
  let target = obj;
  for (const [i, key] of path.entries()) {
    if (key === "__proto__") refuse(key);
    const existing = target.fields.get(key);
    if (i === path.length - 1) {
      target.fields.set(key, combine(existing, value));
      return;
    }
    if (existing?.kind === "object") target = existing;
    else if (existing?.kind === "merge" && existing.top.kind === "object") target = existing.top;
    else {
      const fresh: ObjNode = { kind: "object", at, fields: new Map() };
      target.fields.set(key, existing && unresolved(existing) ? { kind: "merge", at, base: existing, top: fresh } : fresh);
      target = fresh;
    }
  }
}

function combine(existing: Node | undefined, value: Node): Node {
  if (!existing) return value;
  if (value.kind === "object") {
    if (existing.kind === "object") return mergeInto(existing, value);
    if (existing.kind === "merge" && existing.top.kind === "object") {
      mergeInto(existing.top, value);
      return existing;
    }
    return unresolved(existing) ? { kind: "merge", at: value.at, base: existing, top: value } : value;
  }
  // An optional substitution that turns out undefined keeps the earlier value; an object from one merges.
  return unresolved(value) ? { kind: "merge", at: value.at, base: existing, top: value } : value;
}

function mergeInto(into: ObjNode, from: ObjNode): ObjNode {
  for (const [k, v] of from.fields) into.fields.set(k, combine(into.fields.get(k), v));
  return into;
}

const isObject = (v: Resolved): v is { [key: string]: JsonValue } => typeof v === "object" && v !== null && !Array.isArray(v);

function defineKey(o: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  // "__proto__" is refused when read; were one to get here, it stays an own property (as JSON.parse makes it).
  if (key === "__proto__") Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
  else o[key] = value;
}

class Resolver {
  private readonly memo = new Map<Node, Resolved>();
  private readonly active = new Set<Node>();
  private readonly chain: SubstNode[] = [];
  private readonly sizes = new WeakMap<object, { size: number; depth: number }>();
  private spent = 0;

  constructor(
    private readonly src: string,
    private readonly file: string,
    private readonly root: Node,
  ) {}

  private error(code: string, at: number, what: string, fix: string): never {
    return fail(code, this.src, this.file, at, what, fix);
  }

  /** Size (values plus characters) and nesting depth of a resolved value. */
  measure(v: JsonValue): { size: number; depth: number } {
    if (typeof v === "string") return { size: 1 + v.length, depth: 0 };
    if (v === null || typeof v !== "object") return { size: 1, depth: 0 };
    const known = this.sizes.get(v);
    if (known) return known;
    let size = 1;
    let depth = 0;
    for (const [k, child] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
      const m = this.measure(child);
      size += m.size + (typeof k === "string" ? k.length : 0);
      depth = Math.max(depth, m.depth);
    }
    const r = { size, depth: depth + 1 };
    this.sizes.set(v, r);
    return r;
  }

  /** Counts what a substitution, concatenation or merge produces; refuses past the bound. */
  private spend(v: JsonValue, at: number): void {
    const m = this.measure(v);
    this.charge(m.size, at);
    if (m.depth > HOCON_MAX_DEPTH)
      this.error(RuntimeErrorCode.ConfigLimit, at, `substitutions nest objects and arrays more than ${HOCON_MAX_DEPTH} deep`, "flatten the configuration");
  }

  private charge(units: number, at: number): void {
    this.spent += units;
    if (this.spent > HOCON_MAX_EXPANSION)
      this.error(
        RuntimeErrorCode.ConfigLimit,
        at,
        `substitutions expand the document past ${HOCON_MAX_EXPANSION} values and characters`,
        "write the values out instead of repeating substitutions of substitutions",
      );
  }

  document(): JsonValue {
    const v = this.resolve(this.root);
    if (v === UNDEFINED) return {};
    this.spend(v, this.root.at);
    return clone(v);
  }

  resolve(node: Node): Resolved {
    if (node.kind === "scalar") return node.value;
    if (node.kind === "ws") return node.text;
    const known = this.memo.get(node);
    if (known !== undefined) return known;
    if (this.active.has(node)) {
      const last = this.chain.at(-1);
      this.error(
        RuntimeErrorCode.ConfigSubstitution,
        last?.at ?? node.at,
        `the substitution ${quote(last?.expr ?? "")} is part of a cycle (${this.chain.map((s) => quote(s.expr)).join(" → ")})`,
        "a value cannot depend on itself; write one of them out (HOCON's self-referential values are not supported)",
      );
    }
    this.active.add(node);
    const v = this.compute(node);
    this.active.delete(node);
    this.memo.set(node, v);
    return v;
  }

  private compute(node: ObjNode | ArrNode | SubstNode | ConcatNode | MergeNode): Resolved {
    switch (node.kind) {
      case "object": {
        const o: { [key: string]: JsonValue } = {};
        for (const [k, child] of node.fields) {
          const v = this.resolve(child);
          if (v !== UNDEFINED) defineKey(o, k, v);
        }
        return o;
      }
      case "array": {
        const out: JsonValue[] = [];
        for (const item of node.items) {
          const v = this.resolve(item);
          if (v !== UNDEFINED) out.push(v);
        }
        return out;
      }
      case "subst":
        return this.substitute(node);
      case "concat":
        return this.concatenate(node);
      case "merge": {
        const base = this.resolve(node.base);
        const top = this.resolve(node.top);
        if (top === UNDEFINED) return base;
        if (!isObject(top) || !isObject(base)) return top;
        const merged = mergeValues(base, top);
        this.spend(merged, node.at);
        return merged;
      }
    }
  }

  private substitute(node: SubstNode): Resolved {
    if (this.chain.length >= HOCON_MAX_SUBSTITUTION_CHAIN)
      this.error(
        RuntimeErrorCode.ConfigLimit,
        node.at,
        `substitutions depend on substitutions more than ${HOCON_MAX_SUBSTITUTION_CHAIN} deep (${quote(node.expr)})`,
        "write some of the values out",
      );
    this.chain.push(node);
    const v = this.lookup(node.path);
    this.chain.pop();
    if (v === UNDEFINED) {
      if (node.optional) return UNDEFINED;
      this.error(
        RuntimeErrorCode.ConfigSubstitution,
        node.at,
        `the substitution ${quote(node.expr)} is not defined in this file (Cohort resolves substitutions from the same file only, never from the process environment)`,
        `define ${quote(node.path.join("."))} in this file, or write ${"${?"}…} for an optional value`,
      );
    }
    this.spend(v, node.at);
    return v;
  }

  private lookup(path: readonly string[]): Resolved {
    let node: Node | undefined = this.root;
    let value: Resolved = UNDEFINED;
    for (const seg of path) {
      if (node) {
        if (node.kind === "object") {
          node = node.fields.get(seg);
          if (!node) return UNDEFINED;
          continue;
        }
        value = this.resolve(node);
        node = undefined;
      }
      if (!isObject(value) || !Object.hasOwn(value, seg)) return UNDEFINED;
      value = value[seg] as JsonValue;
    }
    return node ? this.resolve(node) : value;
  }

  private concatenate(node: ConcatNode): Resolved {
    const values = node.parts.map((p) => ({ part: p, value: this.resolve(p) }));
    const solid = values.filter((v) => v.part.kind !== "ws" && v.value !== UNDEFINED).map((v) => v.value as JsonValue);
    const kinds = new Set(solid.map((v) => (Array.isArray(v) ? "array" : isObject(v) ? "object" : "string")));
    if (kinds.size > 1)
      this.error(
        RuntimeErrorCode.ConfigSyntax,
        node.at,
        `cannot concatenate ${[...kinds].sort().join(" and ")} values`,
        "put them on separate keys, or quote the whole string",
      );
    if (kinds.has("array")) {
      const out = solid.flatMap((v) => v as JsonValue[]);
      this.spend(out, node.at);
      return out;
    }
    if (kinds.has("object")) {
      const out = solid.map((v) => v as { [key: string]: JsonValue }).reduce((a, b) => mergeValues(a, b));
      this.spend(out, node.at);
      return out;
    }
    let length = 0;
    const texts = values.map(({ part, value }) => {
      const t = value === UNDEFINED ? "" : part.kind === "scalar" || part.kind === "ws" ? part.text : value === null ? "null" : String(value);
      length += t.length;
      return t;
    });
    this.charge(1 + length, node.at); // before the string is built
    return texts.join("");
  }
}

/** Objects merged as HOCON merges them: keys of `b` win, objects under the same key merge. */
function mergeValues(a: { [key: string]: JsonValue }, b: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const [k, v] of Object.entries(a)) defineKey(out, k, v);
  for (const [k, v] of Object.entries(b)) {
    const prev = Object.hasOwn(out, k) ? out[k] : undefined;
    defineKey(out, k, prev !== undefined && isObject(prev) && isObject(v) ? mergeValues(prev, v) : v);
  }
  return out;
}

/** A tree copy: substitutions share values while resolving; the caller gets no shared parts. */
function clone(v: JsonValue): JsonValue {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(clone);
  const o: { [key: string]: JsonValue } = {};
  for (const [k, child] of Object.entries(v)) defineKey(o, k, clone(child));
  return o;
}

/** Parses HOCON text into a plain JSON value (see the top of this file for what it reads and refuses). */
export function parseHocon(text: string, options: HoconOptions): JsonValue {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > HOCON_MAX_BYTES)
    throw new CohortError(
      RuntimeErrorCode.ConfigLimit,
      `${options.file}: ${bytes} bytes; a job's config file holds at most ${HOCON_MAX_BYTES} bytes (1 MiB); fix: move data out of the config (into the app's files)`,
      { file: options.file, bytes, limit: HOCON_MAX_BYTES },
    );
  const root = new Parser(text, options.file).parseDocument();
  return new Resolver(text, options.file, root).document();
}
