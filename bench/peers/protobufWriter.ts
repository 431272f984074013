// A minimal protobuf *writer*: just enough wire format to emit ONNX ModelProto bytes without a
// dependency. Sub-messages are kept as lists of chunks, so a 500 MB initializer is copied exactly
// once (in finish()), not once per nesting level.

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const MAX_VARINT_BYTES = 10;

/** Appends protobuf fields; nest with {@link ProtoWriter.message}, serialize with {@link ProtoWriter.finish}. */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private byteLength = 0;

  /** Total encoded size in bytes so far. */
  get length(): number {
    return this.byteLength;
  }

  /** A non-negative integer field (int32/int64/enum/uint64) as a varint; values up to 2^53. */
  varint(field: number, value: number): this {
    this.tag(field, WIRE_VARINT);
    this.pushVarint(value);
    return this;
  }

  /** A bytes field; the array is referenced, not copied, until {@link finish}. */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.pushVarint(data.byteLength);
    this.push(data);
    return this;
  }

  /** A string field, UTF-8 encoded. */
  string(field: number, text: string): this {
    return this.bytes(field, Buffer.from(text, 'utf8'));
  }

  /** An embedded message field. */
  message(field: number, sub: ProtoWriter): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.pushVarint(sub.byteLength);
    for (const part of sub.parts) this.push(part);
    return this;
  }

  /** The encoded message as one contiguous array. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.byteLength);
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.byteLength;
    }
    return out;
  }

  private tag(field: number, wireType: number): void {
    if (!Number.isInteger(field) || field < 1) throw new RangeError(`protobuf field number must be >= 1, got ${field}`);
    this.pushVarint(field * 8 + wireType);
  }

  private pushVarint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`protobuf varint must be a non-negative safe integer, got ${value}`);
    }
    const buf = new Uint8Array(MAX_VARINT_BYTES);
    let n = 0;
    let rest = value;
    // Plain arithmetic, not bit operators: JS bit operators truncate to 32 bits.
    while (rest >= 0x80) {
      buf[n++] = (rest % 0x80) + 0x80;
      rest = Math.floor(rest / 0x80);
    }
    buf[n++] = rest;
    this.push(buf.subarray(0, n));
  }

  private push(part: Uint8Array): void {
    this.parts.push(part);
    this.byteLength += part.byteLength;
  }
}
