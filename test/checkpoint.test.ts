/**
 * Checkpoints: exact round trips, and every kind of damaged or mismatched file rejected with a
 * message naming the file and the problem; writes are atomic (a failed or interrupted write
 * never replaces the previous checkpoint).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { RicciError } from "../src/errors.js";
import { initBackend, tf } from "../src/lower/backend.js";
import type { GptConfig } from "../src/nn/gpt.js";
import { type Params, disposeParams, initGpt } from "../src/nn/params.js";
import { type CheckpointContents, loadCheckpoint, saveCheckpoint } from "../src/train/checkpoint.js";
import { type AdamWState, adamW } from "../src/train/optimizer.js";

// Lets a test make the checkpoint writer's file handle fail after a number of writes, as a full
// disk or a crash mid-write would. Only `open` (used by the writer) is wrapped.
const failure = vi.hoisted(() => ({ afterWrites: -1 }));
vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>();
  const open: typeof actual.open = async (...args) => {
    const handle = await actual.open(...args);
    if (failure.afterWrites < 0) return handle;
    let writes = 0;
    const realWrite = handle.write.bind(handle) as (...a: unknown[]) => Promise<unknown>;
    Object.assign(handle, {
      write: async (...a: unknown[]) => {
        if (writes++ >= failure.afterWrites) throw new Error("simulated disk failure");
        return realWrite(...a);
      },
    });
    return handle;
  };
  return { ...actual, open };
});

const small: GptConfig = { vocab: 16, context: 8, dModel: 8, heads: 2, layers: 1, ff: 24, tiedHead: true };
let dir: string;

beforeAll(async () => {
  await initBackend();
  dir = mkdtempSync(join(tmpdir(), "ricci-ckpt-test-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const bitwiseEqual = (a: Float32Array, b: Float32Array): boolean => bytesOf(a).equals(bytesOf(b));

/** A model after two optimizer steps (non-trivial moments), with some special float values planted. */
function trainedModel(config: GptConfig, seed: number): { params: Params; optimizer: AdamWState } {
  const params = initGpt(config, seed);
  const opt = adamW(params, { lr: 0.01 });
  for (let i = 0; i < 2; i++) {
    const grads = Object.fromEntries(Object.entries(params).map(([n, t]) => [n, tf.randomNormal(t.shape, 0, 1, "float32", seed + i)]));
    opt.step(grads);
    disposeParams(grads);
  }
  const optimizer = opt.state();
  opt.dispose();
  const special = params.normF.dataSync().slice() as Float32Array;
  special.set([-0, 1e-45, Number.NaN, -Infinity]);
  const shape = params.normF.shape;
  params.normF.dispose();
  params.normF = tf.tensor(special, shape);
  return { params, optimizer };
}

async function saved(name: string, config: GptConfig = small, seed = 1): Promise<{ path: string; contents: CheckpointContents }> {
  const path = join(dir, name);
  const { params, optimizer } = trainedModel(config, seed);
  const contents = { config, params, optimizer, step: 123, meta: { loss: 1.25, curve: [3, 2.5, 2], data: { seed: 7, position: 4096 }, note: "ünïcödé" } };
  await saveCheckpoint(path, contents);
  return { path, contents };
}

/** Parses a file per the documented layout, lets `edit` change its header, and rewrites it with a valid header digest. */
function rewriteHeader(path: string, edit: (header: { [k: string]: unknown }) => void): void {
  const bytes = readFileSync(path);
  const headerLength = bytes.readUInt32LE(14);
  const header = JSON.parse(bytes.subarray(50, 50 + headerLength).toString("utf8")) as { [k: string]: unknown };
  edit(header);
  writeWithHeader(path, bytes, Buffer.from(JSON.stringify(header), "utf8"));
}

function writeWithHeader(path: string, original: Buffer, header: Buffer): void {
  const oldLength = original.readUInt32LE(14);
  const prefix = Buffer.from(original.subarray(0, 50));
  prefix.writeUInt32LE(header.byteLength, 14);
  createHash("sha256").update(header).digest().copy(prefix, 18);
  writeFileSync(path, Buffer.concat([prefix, header, original.subarray(50 + oldLength)]));
}

async function rejection(path: string, options = {}): Promise<string> {
  const error = await loadCheckpoint(path, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RicciError);
  const message = (error as RicciError).message;
  expect(message).toContain(path);
  return message;
}

describe("checkpoint round trip", () => {
  it("restores params, optimizer state, step, meta and config bitwise", async () => {
    const { path, contents } = await saved("roundtrip.ckpt");
    const before = tf.memory().numTensors;
    const loaded = await loadCheckpoint(path, { expectConfig: small });
    expect(tf.memory().numTensors).toBe(before + Object.keys(contents.params).length);
    expect(loaded.config).toEqual(small);
    expect(loaded.step).toBe(123);
    expect(loaded.meta).toEqual(contents.meta);
    expect(Object.keys(loaded.params).sort()).toEqual(Object.keys(contents.params).sort());
    for (const [n, t] of Object.entries(contents.params)) {
      expect(loaded.params[n].shape).toEqual(t.shape);
      expect(bitwiseEqual(loaded.params[n].dataSync() as Float32Array, t.dataSync() as Float32Array)).toBe(true);
    }
    const normF = loaded.params.normF.dataSync();
    expect([Object.is(normF[0], -0), normF[1], Number.isNaN(normF[2]), normF[3]]).toEqual([true, Math.fround(1e-45), true, -Infinity]);
    const opt = loaded.optimizer!;
    expect(opt.step).toBe(2);
    for (const n of Object.keys(contents.params)) {
      expect(bitwiseEqual(opt.m[n], contents.optimizer!.m[n])).toBe(true);
      expect(bitwiseEqual(opt.v[n], contents.optimizer!.v[n])).toBe(true);
    }
    disposeParams(loaded.params);
    disposeParams(contents.params);
  });

  it("stores no optimizer when none is given, and meta defaults to {}", async () => {
    const path = join(dir, "weights-only.ckpt");
    const params = initGpt(small, 3);
    await saveCheckpoint(path, { config: small, params, step: 0 });
    const loaded = await loadCheckpoint(path);
    expect(loaded.optimizer).toBeUndefined();
    expect(loaded.meta).toEqual({});
    expect(loaded.step).toBe(0);
    disposeParams(loaded.params);
    disposeParams(params);
  });

  it("resumes training exactly: a loaded optimizer state gives the same next update", async () => {
    const { path, contents } = await saved("resume.ckpt");
    const loaded = await loadCheckpoint(path);
    const a = adamW(contents.params, { lr: 0.01 });
    a.loadState(contents.optimizer!);
    const b = adamW(loaded.params, { lr: 0.01 });
    b.loadState(loaded.optimizer!);
    const grads = Object.fromEntries(Object.entries(contents.params).map(([n, t]) => [n, tf.randomNormal(t.shape, 0, 1, "float32", 99)]));
    a.step(grads);
    b.step(grads);
    for (const n of Object.keys(grads)) {
      expect(bitwiseEqual(loaded.params[n].dataSync() as Float32Array, contents.params[n].dataSync() as Float32Array)).toBe(true);
    }
    for (const x of [a, b]) x.dispose();
    for (const p of [grads, loaded.params, contents.params]) disposeParams(p);
  });
});

describe("damaged files are rejected, naming the file and the problem", () => {
  it("a truncated payload (expected vs actual bytes)", async () => {
    const { path, contents } = await saved("truncated.ckpt");
    disposeParams(contents.params);
    const full = readFileSync(path);
    const headerLength = full.readUInt32LE(14);
    const payloadBytes = full.byteLength - 50 - headerLength;
    writeFileSync(path, full.subarray(0, full.byteLength - 10));
    const message = await rejection(path);
    expect(message).toMatch(/truncated/);
    expect(message).toContain(`payload is ${payloadBytes - 10} bytes but the tensor index expects ${payloadBytes}`);
  });

  it("a file cut inside its header or prefix", async () => {
    const { path, contents } = await saved("cut.ckpt");
    disposeParams(contents.params);
    const full = readFileSync(path);
    writeFileSync(path, full.subarray(0, 60));
    expect(await rejection(path)).toMatch(/truncated: the file is 60 bytes, but its header alone needs \d+/);
    writeFileSync(path, full.subarray(0, 20));
    expect(await rejection(path)).toMatch(/truncated: the file is 20 bytes, shorter than the 50-byte prefix/);
  });

  it("a flipped byte in the payload (checksum)", async () => {
    const { path, contents } = await saved("flipped.ckpt");
    disposeParams(contents.params);
    const bytes = readFileSync(path);
    bytes[bytes.byteLength - 1000] ^= 0x01;
    writeFileSync(path, bytes);
    expect(await rejection(path)).toMatch(/checksum mismatch.*corrupted/);
  });

  it("a corrupted header: a changed byte, broken JSON, bad magic, unknown version", async () => {
    const { path, contents } = await saved("header.ckpt");
    disposeParams(contents.params);
    const good = readFileSync(path);
    const headerText = good.subarray(50, 50 + good.readUInt32LE(14)).toString("utf8");

    const changed = Buffer.from(good);
    const at = 50 + headerText.indexOf('"dModel":8') + '"dModel":'.length;
    changed[at] = "9".charCodeAt(0); // still valid JSON, wrong config: only the header digest can tell
    writeFileSync(path, changed);
    expect(await rejection(path)).toMatch(/corrupted header: its sha256 does not match/);

    writeWithHeader(path, good, Buffer.from(headerText.slice(0, -5), "utf8"));
    expect(await rejection(path)).toMatch(/corrupted header: not valid JSON/);

    const magic = Buffer.from(good);
    magic.write("RICCI", 0, "ascii");
    writeFileSync(path, magic);
    expect(await rejection(path)).toMatch(/not a ricci checkpoint/);

    const version = Buffer.from(good);
    version.writeUInt32LE(2, 10);
    writeFileSync(path, version);
    expect(await rejection(path)).toMatch(/format version 2 is not supported/);

    writeFileSync(path, good);
    rewriteHeader(path, (h) => {
      (h.tensors as { offset: number }[])[1].offset += 4;
    });
    expect(await rejection(path)).toMatch(/corrupted header: .* has offset \d+, expected \d+/);
  });

  it("a config that differs from expectConfig, naming the field", async () => {
    const config: GptConfig = { vocab: 16, context: 8, dModel: 64, heads: 2, layers: 1 };
    const { path, contents } = await saved("config.ckpt", config);
    disposeParams(contents.params);
    const message = await rejection(path, { expectConfig: { ...config, dModel: 128 } });
    expect(message).toContain("config mismatch: dModel is 64 in the file, 128 expected");
    const two = await rejection(path, { expectConfig: { ...config, heads: 4, tiedHead: true } });
    expect(two).toContain("heads is 2 in the file, 4 expected");
    expect(two).toContain("tiedHead is unset in the file, true expected");
  });

  it("missing, extra or misshapen tensors for the stored config", async () => {
    const { path, contents } = await saved("tensors.ckpt");
    disposeParams(contents.params);
    const good = readFileSync(path);

    rewriteHeader(path, (h) => {
      const entry = (h.tensors as { group: string; name: string }[]).find((e) => e.group === "params" && e.name === "normF")!;
      entry.name = "normG";
    });
    const renamed = await rejection(path);
    expect(renamed).toContain("missing: normF");
    expect(renamed).toContain("extra (not in the config): normG");

    writeFileSync(path, good);
    rewriteHeader(path, (h) => {
      (h.config as { vocab: number }).vocab = 17;
    });
    expect(await rejection(path)).toContain('"embed" has shape [16,8], the config needs [17,8]');

    writeFileSync(path, good);
    rewriteHeader(path, (h) => {
      h.optimizer = null;
    });
    expect(await rejection(path)).toMatch(/optimizer moments but no optimizer state/);
  });

  it("a missing file", async () => {
    expect(await rejection(join(dir, "nope.ckpt"))).toMatch(/cannot read the file/);
  });
});

describe("saving validates its input", () => {
  it("rejects params that do not fit the config, and meta JSON cannot store, writing nothing", async () => {
    const path = join(dir, "invalid.ckpt");
    const params = initGpt(small, 4);
    const { normF, ...withoutNorm } = params;
    await expect(saveCheckpoint(path, { config: small, params: withoutNorm, step: 1 })).rejects.toThrow(/missing: normF/);
    await expect(saveCheckpoint(path, { config: { ...small, dModel: 16 }, params, step: 1 })).rejects.toThrow(/"embed" has shape \[16,8\], the config needs \[16,16\]/);
    await expect(saveCheckpoint(path, { config: small, params, step: 1, meta: { loss: Number.NaN } })).rejects.toThrow(/meta.loss is NaN/);
    await expect(saveCheckpoint(path, { config: small, params, step: 1.5 })).rejects.toThrow(RicciError);
    expect(existsSync(path)).toBe(false);
    expect(normF.isDisposed).toBe(false);
    disposeParams(params);
  });
});

describe("atomic writes", () => {
  const sub = (): string => mkdtempSync(join(dir, "atomic-"));

  it("ignores a stale temp file left by an interrupted earlier write", async () => {
    const d = sub();
    const path = join(d, "model.ckpt");
    const stale = join(d, ".model.ckpt.12345.deadbeef.tmp");
    writeFileSync(stale, "half a checkpoint");
    const params = initGpt(small, 5);
    await saveCheckpoint(path, { config: small, params, step: 9 });
    const loaded = await loadCheckpoint(path);
    expect(loaded.step).toBe(9);
    expect(readFileSync(stale, "utf8")).toBe("half a checkpoint");
    disposeParams(loaded.params);
    disposeParams(params);
  });

  it("a write into a missing directory fails cleanly, creating nothing", async () => {
    const path = join(dir, "no-such-dir", "model.ckpt");
    const params = initGpt(small, 6);
    await expect(saveCheckpoint(path, { config: small, params, step: 1 })).rejects.toThrow(/write failed/);
    expect(existsSync(join(dir, "no-such-dir"))).toBe(false);
    disposeParams(params);
  });

  it("a write that fails midway keeps the previous checkpoint intact and loadable, and cleans up", async () => {
    const d = sub();
    const path = join(d, "model.ckpt");
    const first = initGpt(small, 7);
    await saveCheckpoint(path, { config: small, params: first, step: 100, meta: { which: "first" } });
    const firstBytes = readFileSync(path);
    const second = initGpt(small, 8);
    for (const afterWrites of [0, 1, 3]) {
      failure.afterWrites = afterWrites;
      try {
        const error = await saveCheckpoint(path, { config: small, params: second, step: 200, meta: { which: "second" } }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(RicciError);
        expect((error as Error).message).toMatch(/write failed \(simulated disk failure\); any previous file at this path is unchanged/);
      } finally {
        failure.afterWrites = -1;
      }
      expect(readFileSync(path).equals(firstBytes)).toBe(true);
      expect(readdirSync(d)).toEqual(["model.ckpt"]);
    }
    const loaded = await loadCheckpoint(path);
    expect(loaded.step).toBe(100);
    expect(loaded.meta).toEqual({ which: "first" });
    expect(bitwiseEqual(loaded.params.embed.dataSync() as Float32Array, first.embed.dataSync() as Float32Array)).toBe(true);
    // And the next, successful write replaces it.
    await saveCheckpoint(path, { config: small, params: second, step: 200 });
    const replaced = await loadCheckpoint(path);
    expect(replaced.step).toBe(200);
    for (const p of [first, second, loaded.params, replaced.params]) disposeParams(p);
  });
});
