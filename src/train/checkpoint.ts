/**
 * Checkpoints: one self-describing file per checkpoint, written atomically and validated in
 * full before any tensor is allocated.
 *
 * Layout (all integers little-endian):
 *   bytes 0–9    the magic "ricci-ckpt" (ASCII)
 *   bytes 10–13  u32 format version (1)
 *   bytes 14–17  u32 header length H
 *   bytes 18–49  sha256 of the header bytes
 *   bytes 50…    the header: H bytes of UTF-8 JSON { magic, version, config, step, meta,
 *                optimizer: { step } | null, tensors: [{ group, name, shape, dtype, offset, length }],
 *                payloadBytes, payloadSha256, and lora: { rank, alpha?, targets? } in a file of
 *                LoRA adapters (src/nn/lora.ts), whose params are the adapters of the config's model }
 *   then         the payload: the tensors' raw float32 values, little-endian, back to back in
 *                the order of the index (offsets are relative to the payload's start)
 * Why a binary prefix before the JSON: it says where the header ends without scanning, and
 * its header digest catches a corrupted header that still parses (a flipped digit in the
 * config), which the payload checksum alone cannot. The header is plain JSON so `head -c`
 * shows what a file holds.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { endianness } from "node:os";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { RicciError } from "../errors.js";
import { tf } from "../lower/backend.js";
import { type GptConfig, gptParams } from "../nn/gpt.js";
import { type LoraOptions, loraParams } from "../nn/lora.js";
import type { Params } from "../nn/params.js";
import { writeFileAtomic } from "../util/atomicWrite.js";
import type { AdamWState } from "./optimizer.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** What a checkpoint holds. */
export interface CheckpointContents {
  readonly config: GptConfig;
  readonly params: Params;
  readonly optimizer?: AdamWState;
  /** The training step this checkpoint was taken at. */
  readonly step: number;
  /** Anything else worth keeping with the weights: metrics, data seed and position, git commit… */
  readonly meta?: JsonObject;
  /** Set when `params` are LoRA adapters of the config's model rather than the model's own weights. */
  readonly lora?: LoraOptions;
}

/** A loaded checkpoint; its tensors are the caller's to dispose. */
export interface Checkpoint {
  readonly config: GptConfig;
  readonly params: Params;
  readonly optimizer: AdamWState | undefined;
  readonly step: number;
  readonly meta: JsonObject;
  /** The adapters' options when the file holds LoRA adapters. */
  readonly lora: LoraOptions | undefined;
}

export interface LoadCheckpointOptions {
  /** Reject the file unless its config equals this one (the message names each differing field). */
  readonly expectConfig?: GptConfig;
}

export const CHECKPOINT_MAGIC = "ricci-ckpt";
export const CHECKPOINT_VERSION = 1;

const PREFIX_BYTES = 50;
const MAGIC_BYTES = Buffer.from(CHECKPOINT_MAGIC, "ascii");
const GROUPS = ["params", "adam.m", "adam.v"] as const;
type Group = (typeof GROUPS)[number];

interface TensorEntry {
  readonly group: Group;
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: "float32";
  readonly offset: number;
  readonly length: number;
}

interface Header {
  readonly magic: string;
  readonly version: number;
  readonly config: GptConfig;
  readonly lora?: LoraOptions;
  readonly step: number;
  readonly meta: JsonObject;
  readonly optimizer: { readonly step: number } | null;
  readonly tensors: readonly TensorEntry[];
  readonly payloadBytes: number;
  readonly payloadSha256: string;
}

// ---------------------------------------------------------------------------------------------
// Saving

/**
 * Writes a checkpoint atomically (temp file in the same directory, fsync, rename), so the path
 * holds either the previous file or the complete new one:
 * `await saveCheckpoint("runs/gpt.ckpt", { config, params, optimizer: opt.state(), step, meta: { loss } })`.
 */
export async function saveCheckpoint(path: string, contents: CheckpointContents): Promise<void> {
  const fail = (what: string): never => {
    throw new RicciError(`checkpoint ${path}: cannot save: ${what}`);
  };
  const { config, params, optimizer, step } = contents;
  const meta = contents.meta ?? {};
  if (!Number.isInteger(step) || step < 0) fail(`step must be an integer ≥ 0, got ${step}`);
  const notJson = jsonProblem(config, "config") ?? jsonProblem(meta, "meta");
  if (notJson !== undefined) fail(notJson);
  const expected = expectedShapes(config, contents.lora);
  if (E.isLeft(expected)) return fail(expected.left);
  const names = Object.keys(expected.right);
  const paramsProblem = tensorSetProblem("params", Object.fromEntries(Object.entries(params).map(([n, t]) => [n, t.shape])), expected.right);
  if (paramsProblem !== undefined) fail(paramsProblem);
  for (const n of names) if (params[n].dtype !== "float32") fail(`params["${n}"] has dtype ${params[n].dtype}; checkpoints hold float32`);
  if (optimizer !== undefined) {
    if (!Number.isInteger(optimizer.step) || optimizer.step < 0) fail(`optimizer.step must be an integer ≥ 0, got ${optimizer.step}`);
    for (const [label, moments] of [["adam.m", optimizer.m], ["adam.v", optimizer.v]] as const) {
      const sizes = Object.fromEntries(Object.entries(moments).map(([n, a]) => [n, [a.length]]));
      const flatExpected = Object.fromEntries(names.map((n) => [n, [params[n].size]]));
      const problem = tensorSetProblem(`optimizer ${label}`, sizes, flatExpected);
      if (problem !== undefined) fail(problem);
    }
  }

  const arrays: { group: Group; name: string; values: Float32Array }[] = [];
  for (const n of names) arrays.push({ group: "params", name: n, values: (await params[n].data()) as Float32Array });
  if (optimizer !== undefined) {
    for (const n of names) arrays.push({ group: "adam.m", name: n, values: optimizer.m[n] });
    for (const n of names) arrays.push({ group: "adam.v", name: n, values: optimizer.v[n] });
  }

  const payloadHash = createHash("sha256");
  const chunks: Uint8Array[] = [];
  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const { group, name, values } of arrays) {
    const bytes = float32ToLittleEndian(values);
    // Moments are stored in their parameter's shape, so the file is self-describing.
    tensors.push({ group, name, shape: params[name].shape, dtype: "float32", offset, length: bytes.byteLength });
    payloadHash.update(bytes);
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const header: Header = {
    magic: CHECKPOINT_MAGIC,
    version: CHECKPOINT_VERSION,
    config,
    ...(contents.lora === undefined ? {} : { lora: contents.lora }),
    step,
    meta,
    optimizer: optimizer === undefined ? null : { step: optimizer.step },
    tensors,
    payloadBytes: offset,
    payloadSha256: payloadHash.digest("hex"),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  const prefix = Buffer.alloc(PREFIX_BYTES);
  MAGIC_BYTES.copy(prefix, 0);
  prefix.writeUInt32LE(CHECKPOINT_VERSION, 10);
  prefix.writeUInt32LE(headerBytes.byteLength, 14);
  createHash("sha256").update(headerBytes).digest().copy(prefix, 18);
  await writeFileAtomic(path, [prefix, headerBytes, ...chunks], "checkpoint");
}

// ---------------------------------------------------------------------------------------------
// Loading

/**
 * Reads and validates a checkpoint (magic, version, header digest and JSON, sizes, payload
 * checksum, config, tensor names and shapes) and only then allocates its tensors:
 * `const { params, optimizer, step, meta } = await loadCheckpoint("runs/gpt.ckpt", { expectConfig: config })`.
 * Throws a RicciError naming the file and the problem.
 */
export async function loadCheckpoint(path: string, options: LoadCheckpointOptions = {}): Promise<Checkpoint> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new RicciError(`checkpoint ${path}: cannot read the file (${error instanceof Error ? error.message : String(error)})`);
  }
  const validated = pipe(
    splitFile(bytes),
    E.chain(({ headerBytes, payload }) =>
      pipe(
        parseHeader(headerBytes),
        E.chainFirst((header) => checkPayload(header, payload)),
        E.chainFirst((header) => (options.expectConfig === undefined ? E.right(undefined) : checkConfig(header.config, options.expectConfig))),
        E.chainFirst(checkTensorSet),
        E.map((header) => ({ header, payload })),
      ),
    ),
  );
  if (E.isLeft(validated)) throw new RicciError(`checkpoint ${path}: ${validated.left}`);
  const { header, payload } = validated.right;

  const read = (e: TensorEntry): Float32Array => littleEndianToFloat32(payload, e.offset, e.length);
  const params: Params = {};
  const m: Record<string, Float32Array> = {};
  const v: Record<string, Float32Array> = {};
  for (const e of header.tensors) {
    switch (e.group) {
      case "params":
        params[e.name] = tf.tensor(read(e), [...e.shape], "float32");
        break;
      case "adam.m":
        m[e.name] = read(e);
        break;
      case "adam.v":
        v[e.name] = read(e);
        break;
      default: {
        const unreachable: never = e.group;
        throw new RicciError(`checkpoint ${path}: unknown tensor group ${String(unreachable)}`);
      }
    }
  }
  return {
    config: header.config,
    params,
    optimizer: header.optimizer === null ? undefined : { step: header.optimizer.step, m, v },
    step: header.step,
    meta: header.meta,
    lora: header.lora,
  };
}

type Checked<T> = E.Either<string, T>;

function splitFile(bytes: Buffer): Checked<{ headerBytes: Buffer; payload: Buffer }> {
  if (bytes.byteLength < PREFIX_BYTES) {
    if (!MAGIC_BYTES.subarray(0, bytes.byteLength).equals(bytes.subarray(0, MAGIC_BYTES.byteLength))) {
      return E.left(`not a ricci checkpoint (it does not start with "${CHECKPOINT_MAGIC}")`);
    }
    return E.left(`truncated: the file is ${bytes.byteLength} bytes, shorter than the ${PREFIX_BYTES}-byte prefix`);
  }
  if (!bytes.subarray(0, MAGIC_BYTES.byteLength).equals(MAGIC_BYTES)) {
    return E.left(`not a ricci checkpoint (it does not start with "${CHECKPOINT_MAGIC}")`);
  }
  const version = bytes.readUInt32LE(10);
  if (version !== CHECKPOINT_VERSION) {
    return E.left(`format version ${version} is not supported (this ricci reads version ${CHECKPOINT_VERSION})`);
  }
  const headerLength = bytes.readUInt32LE(14);
  const headerEnd = PREFIX_BYTES + headerLength;
  if (bytes.byteLength < headerEnd) {
    return E.left(`truncated: the file is ${bytes.byteLength} bytes, but its header alone needs ${headerEnd}`);
  }
  const headerBytes = bytes.subarray(PREFIX_BYTES, headerEnd);
  const digest = createHash("sha256").update(headerBytes).digest();
  if (!digest.equals(bytes.subarray(18, PREFIX_BYTES))) {
    return E.left("corrupted header: its sha256 does not match the digest stored in the prefix");
  }
  return E.right({ headerBytes, payload: bytes.subarray(headerEnd) });
}

function parseHeader(headerBytes: Buffer): Checked<Header> {
  let raw: unknown;
  try {
    raw = JSON.parse(headerBytes.toString("utf8"));
  } catch (error) {
    return E.left(`corrupted header: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const problem = headerProblem(raw);
  return problem === undefined ? E.right(raw as Header) : E.left(`corrupted header: ${problem}`);
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => typeof x === "number" && Number.isInteger(x) && x >= 0;

/** Why `raw` is not a well-formed header, or undefined. */
function headerProblem(raw: unknown): string | undefined {
  if (!isObject(raw)) return "the header is not a JSON object";
  if (raw.magic !== CHECKPOINT_MAGIC) return `magic is ${JSON.stringify(raw.magic)}, expected "${CHECKPOINT_MAGIC}"`;
  if (raw.version !== CHECKPOINT_VERSION) return `version ${JSON.stringify(raw.version)} disagrees with the prefix's ${CHECKPOINT_VERSION}`;
  if (!isObject(raw.config)) return "config is missing or not an object";
  for (const field of ["vocab", "context", "dModel", "heads", "layers"] as const) {
    if (!isCount(raw.config[field])) return `config.${field} is ${JSON.stringify(raw.config[field])}, expected an integer ≥ 0`;
  }
  if (!isCount(raw.step)) return `step is ${JSON.stringify(raw.step)}, expected an integer ≥ 0`;
  if (!isObject(raw.meta)) return "meta is missing or not an object";
  if (raw.lora !== undefined && !(isObject(raw.lora) && isCount(raw.lora.rank))) return "lora must be absent or { rank: integer, … }";
  if (raw.optimizer !== null && !(isObject(raw.optimizer) && isCount(raw.optimizer.step))) {
    return "optimizer must be null or { step: integer ≥ 0 }";
  }
  if (!isCount(raw.payloadBytes)) return `payloadBytes is ${JSON.stringify(raw.payloadBytes)}, expected an integer ≥ 0`;
  if (typeof raw.payloadSha256 !== "string" || !/^[0-9a-f]{64}$/.test(raw.payloadSha256)) return "payloadSha256 is not a sha256 hex digest";
  if (!Array.isArray(raw.tensors)) return "the tensor index is missing";
  let offset = 0;
  const seen = new Set<string>();
  for (const [i, e] of raw.tensors.entries()) {
    const where = `tensor index entry ${i}`;
    if (!isObject(e)) return `${where} is not an object`;
    if (!GROUPS.includes(e.group as Group)) return `${where} has group ${JSON.stringify(e.group)}, expected one of ${GROUPS.join(", ")}`;
    if (typeof e.name !== "string") return `${where} has no name`;
    const id = `${e.group} "${e.name}"`;
    if (seen.has(id)) return `${id} appears twice in the tensor index`;
    seen.add(id);
    if (!Array.isArray(e.shape) || !e.shape.every(isCount)) return `${id} has shape ${JSON.stringify(e.shape)}, expected a list of sizes`;
    if (e.dtype !== "float32") return `${id} has dtype ${JSON.stringify(e.dtype)}, expected "float32"`;
    const bytes = 4 * (e.shape as number[]).reduce((k, n) => k * n, 1);
    if (e.length !== bytes) return `${id} has length ${JSON.stringify(e.length)}, but its shape [${e.shape}] needs ${bytes} bytes`;
    if (e.offset !== offset) return `${id} has offset ${JSON.stringify(e.offset)}, expected ${offset} (tensors are stored back to back)`;
    offset += bytes;
  }
  if (offset !== raw.payloadBytes) return `the tensor index covers ${offset} bytes but payloadBytes says ${raw.payloadBytes}`;
  return undefined;
}

function checkPayload(header: Header, payload: Buffer): Checked<void> {
  if (payload.byteLength < header.payloadBytes) {
    return E.left(
      `truncated: the payload is ${payload.byteLength} bytes but the tensor index expects ${header.payloadBytes} ` +
        `(file is ${payload.byteLength - header.payloadBytes} bytes short)`,
    );
  }
  if (payload.byteLength > header.payloadBytes) {
    return E.left(`${payload.byteLength - header.payloadBytes} unexpected bytes after the payload (expected ${header.payloadBytes}, found ${payload.byteLength})`);
  }
  const actual = createHash("sha256").update(payload).digest("hex");
  if (actual !== header.payloadSha256) {
    return E.left(`checksum mismatch: the payload's sha256 is ${actual}, the header records ${header.payloadSha256} (the file is corrupted)`);
  }
  return E.right(undefined);
}

/** How `found` differs from `expected`, field by field ("head is \"lm\" in the file, unset expected"); empty when equal. */
export function configDifferences(found: GptConfig, expected: GptConfig): string[] {
  const keys = [...new Set([...Object.keys(found), ...Object.keys(expected)])].sort();
  const show = (x: unknown): string => (x === undefined ? "unset" : JSON.stringify(x));
  return keys
    .filter((k) => JSON.stringify(found[k as keyof GptConfig]) !== JSON.stringify(expected[k as keyof GptConfig]))
    .map((k) => `${k} is ${show(found[k as keyof GptConfig])} in the file, ${show(expected[k as keyof GptConfig])} expected`);
}

function checkConfig(found: GptConfig, expected: GptConfig): Checked<void> {
  const diffs = configDifferences(found, expected);
  return diffs.length === 0 ? E.right(undefined) : E.left(`config mismatch: ${diffs.join("; ")}`);
}

function checkTensorSet(header: Header): Checked<void> {
  return pipe(
    expectedShapes(header.config, header.lora),
    E.chain((expected) => {
      const group = (g: Group): Record<string, readonly number[]> =>
        Object.fromEntries(header.tensors.filter((e) => e.group === g).map((e) => [e.name, e.shape]));
      const problems = [tensorSetProblem("params", group("params"), expected)];
      if (header.optimizer !== null) {
        problems.push(tensorSetProblem("optimizer adam.m", group("adam.m"), expected), tensorSetProblem("optimizer adam.v", group("adam.v"), expected));
      } else if (header.tensors.some((e) => e.group !== "params")) {
        problems.push("the file holds optimizer moments but no optimizer state");
      }
      const first = problems.find((p) => p !== undefined);
      return first === undefined ? E.right(undefined) : E.left(first);
    }),
  );
}

/** Parameter shapes by name for a GPT config (or for its LoRA adapters). */
function expectedShapes(config: GptConfig, lora?: LoraOptions): Checked<Record<string, readonly number[]>> {
  try {
    const vars = lora === undefined ? gptParams(config) : loraParams(config, lora);
    return E.right(Object.fromEntries(Object.entries(vars).map(([n, v]) => [n, v.edges.map((e) => e.size)])));
  } catch (error) {
    return E.left(`config ${JSON.stringify(config)} is not a valid GPT config (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** Names missing, extra, or of the wrong shape, or undefined when `found` matches `expected`. */
function tensorSetProblem(
  what: string,
  found: Readonly<Record<string, readonly number[]>>,
  expected: Readonly<Record<string, readonly number[]>>,
): string | undefined {
  const missing = Object.keys(expected).filter((n) => !(n in found));
  const extra = Object.keys(found).filter((n) => !(n in expected));
  const wrong = Object.keys(expected)
    .filter((n) => n in found && !sameShape(found[n], expected[n]))
    .map((n) => `"${n}" has shape [${found[n]}], the config needs [${expected[n]}]`);
  const parts = [
    ...(missing.length > 0 ? [`missing: ${missing.join(", ")}`] : []),
    ...(extra.length > 0 ? [`extra (not in the config): ${extra.join(", ")}`] : []),
    ...wrong,
  ];
  return parts.length === 0 ? undefined : `${what} do not match the config: ${parts.join("; ")}`;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((n, i) => n === b[i]);

/** Why `value` would not survive a JSON round trip unchanged (path included), or undefined. */
function jsonProblem(value: unknown, path: string): string | undefined {
  if (value === null || typeof value === "boolean" || typeof value === "string") return undefined;
  if (typeof value === "number") return Number.isFinite(value) ? undefined : `${path} is ${value}, which JSON cannot store`;
  if (Array.isArray(value)) {
    for (const [i, x] of value.entries()) {
      const p = jsonProblem(x, `${path}[${i}]`);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  if (typeof value === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    for (const [k, x] of Object.entries(value)) {
      if (x === undefined) continue; // JSON drops undefined fields, as do optional TypeScript fields
      const p = jsonProblem(x, `${path}.${k}`);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  return `${path} is a ${typeof value === "object" ? (value.constructor?.name ?? "object") : typeof value}, which JSON cannot store`;
}

// ---------------------------------------------------------------------------------------------
// Bytes

const hostIsLittleEndian = endianness() === "LE";

function float32ToLittleEndian(values: Float32Array): Uint8Array {
  if (hostIsLittleEndian) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new DataView(new ArrayBuffer(values.byteLength));
  values.forEach((x, i) => out.setFloat32(4 * i, x, true));
  return new Uint8Array(out.buffer);
}

function littleEndianToFloat32(bytes: Buffer, offset: number, length: number): Float32Array {
  const out = new Float32Array(length / 4);
  if (hostIsLittleEndian) {
    new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + length));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, length);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  }
  return out;
}
