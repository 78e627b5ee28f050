/**
 * A dependency-free writer for the part of ONNX's protobuf schema ricci emits (ModelProto,
 * GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto). Field numbers are those
 * of `onnx/onnx.proto`; only the wire types varint (0) and length-delimited (2) and fixed32 (5)
 * are needed.
 */

/** ONNX TensorProto.DataType codes. */
export const DATA_TYPE = { float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 } as const;
export type OnnxDataType = keyof typeof DATA_TYPE;

/** An attribute value: an int, a float, a string, or a list of ints. */
/** The node attributes ricci's graphs use: an integer (axis, keepdims, a Cast's type) or a list of them (a permutation). */
export type AttributeValue = { readonly int: number } | { readonly ints: readonly number[] };

export interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

export interface TensorSpec {
  readonly name: string;
  readonly type: OnnxDataType;
  readonly dims: readonly number[];
  /** Little-endian bytes of the values (raw_data). */
  readonly bytes: Uint8Array;
}

export interface ValueSpec {
  readonly name: string;
  readonly type: OnnxDataType;
  readonly dims: readonly number[];
}

export interface ModelSpec {
  readonly graphName: string;
  readonly nodes: readonly NodeSpec[];
  readonly initializers: readonly TensorSpec[];
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly opset: number;
  readonly docString?: string;
}

/** Growable byte buffer with protobuf field encoders. */
class Writer {
  private bytes = new Uint8Array(256);
  private length = 0;

  private ensure(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** A varint; negative int64s take ten bytes, as protobuf encodes them. */
  varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    while (v >= 0x80n) {
      this.bytes[this.length++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.bytes[this.length++] = Number(v);
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  raw(data: Uint8Array): void {
    this.ensure(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
  }

  intField(field: number, value: number): void {
    this.tag(field, 0);
    this.varint(value);
  }


  bytesField(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.raw(data);
  }

  stringField(field: number, value: string): void {
    this.bytesField(field, new TextEncoder().encode(value));
  }

  messageField(field: number, write: (w: Writer) => void): void {
    const inner = new Writer();
    write(inner);
    this.bytesField(field, inner.finish());
  }

  /** A packed repeated int64 field. */
  packedInts(field: number, values: readonly number[]): void {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    this.bytesField(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

// Field numbers from onnx.proto.
const ATTRIBUTE_TYPE = { int: 2, ints: 7 } as const;

function writeAttribute(w: Writer, name: string, value: AttributeValue): void {
  w.stringField(1, name);
  if ("int" in value) {
    w.intField(3, value.int);
    w.intField(20, ATTRIBUTE_TYPE.int);
  } else {
    w.packedInts(8, value.ints);
    w.intField(20, ATTRIBUTE_TYPE.ints);
  }
}

function writeNode(w: Writer, node: NodeSpec, index: number): void {
  for (const i of node.inputs) w.stringField(1, i);
  for (const o of node.outputs) w.stringField(2, o);
  w.stringField(3, `${node.op}_${index}`);
  w.stringField(4, node.op);
  for (const [name, value] of Object.entries(node.attributes ?? {})) w.messageField(5, (a) => writeAttribute(a, name, value));
}

function writeTensor(w: Writer, t: TensorSpec): void {
  if (t.dims.length > 0) w.packedInts(1, t.dims);
  w.intField(2, DATA_TYPE[t.type]);
  w.stringField(8, t.name);
  w.bytesField(9, t.bytes);
}

function writeValueInfo(w: Writer, v: ValueSpec): void {
  w.stringField(1, v.name);
  w.messageField(2, (type) =>
    type.messageField(1, (tensor) => {
      tensor.intField(1, DATA_TYPE[v.type]);
      tensor.messageField(2, (shape) => {
        for (const d of v.dims) shape.messageField(1, (dim) => dim.intField(1, d));
      });
    }),
  );
}

/** Serialises a model to ONNX's protobuf bytes (IR version 8, the default domain at `opset`). */
export function encodeModel(model: ModelSpec): Uint8Array {
  const w = new Writer();
  w.intField(1, 8); // ir_version
  w.stringField(2, "ricci");
  w.messageField(7, (g) => {
    model.nodes.forEach((n, i) => g.messageField(1, (nw) => writeNode(nw, n, i)));
    g.stringField(2, model.graphName);
    for (const t of model.initializers) g.messageField(5, (tw) => writeTensor(tw, t));
    if (model.docString !== undefined) g.stringField(10, model.docString);
    for (const v of model.inputs) g.messageField(11, (vw) => writeValueInfo(vw, v));
    for (const v of model.outputs) g.messageField(12, (vw) => writeValueInfo(vw, v));
  });
  w.messageField(8, (o) => {
    o.stringField(1, "");
    o.intField(2, model.opset);
  });
  return w.finish();
}
