/**
 * The Jupyter wire protocol (messaging spec 5.3): how one message is laid out in ZeroMQ frames
 * and signed. Pure functions, no sockets:
 *
 *   [routing ids…, "<IDS|MSG>", hmac, header, parent_header, metadata, content, buffers…]
 *
 * https://jupyter-client.readthedocs.io/en/latest/messaging.html#the-wire-protocol
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";

export const PROTOCOL_VERSION = "5.3";
const DELIMITER = Buffer.from("<IDS|MSG>");

export type JsonObject = { [key: string]: unknown };

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
}

/** A decoded message; `identities` route a reply back to the client that asked. */
export interface Message {
  identities: Buffer[];
  header: Header;
  /** The header of the request this message answers, or {} for none. */
  parent_header: Header | JsonObject;
  metadata: JsonObject;
  content: JsonObject;
  buffers: Buffer[];
}

/** Signs messages with the connection file's key (HMAC-SHA256; an empty key means unsigned). */
export class Signer {
  constructor(private readonly key: string, scheme = "hmac-sha256") {
    if (key !== "" && scheme !== "hmac-sha256") throw new Error(`unsupported signature_scheme "${scheme}" (only hmac-sha256)`);
  }

  sign(parts: readonly Buffer[]): string {
    if (this.key === "") return "";
    const hmac = createHmac("sha256", this.key);
    for (const part of parts) hmac.update(part);
    return hmac.digest("hex");
  }

  verify(signature: string, parts: readonly Buffer[]): boolean {
    if (this.key === "") return true;
    const expected = Buffer.from(this.sign(parts));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}

/** Splits and checks raw frames: `decode(signer, frames)` → a Message, or throws on a bad signature. */
export function decode(signer: Signer, frames: readonly Buffer[]): Message {
  const delimiterAt = frames.findIndex((frame) => frame.equals(DELIMITER));
  if (delimiterAt < 0) throw new Error("message without <IDS|MSG> delimiter");
  const signature = frames[delimiterAt + 1]?.toString() ?? "";
  const parts = frames.slice(delimiterAt + 2);
  if (parts.length < 4) throw new Error(`message with ${parts.length} parts after the signature, expected at least 4`);
  if (!signer.verify(signature, parts.slice(0, 4))) throw new Error("message with an invalid signature");
  const [header, parent, metadata, content] = parts.slice(0, 4).map((part) => JSON.parse(part.toString()) as JsonObject);
  return {
    identities: frames.slice(0, delimiterAt),
    header: header as unknown as Header,
    parent_header: parent,
    metadata,
    content,
    buffers: parts.slice(4),
  };
}

/** Lays out and signs a message as frames, ready for `socket.send`. */
export function encode(signer: Signer, message: Message): Buffer[] {
  const parts = [message.header, message.parent_header, message.metadata, message.content].map((part) =>
    Buffer.from(JSON.stringify(part)),
  );
  return [...message.identities, DELIMITER, Buffer.from(signer.sign(parts)), ...parts, ...message.buffers];
}

/** The kernel's side of a session: fresh headers for the messages it sends. */
export class KernelSession {
  readonly id = randomUUID();

  /** A new message answering (or caused by) `parent`: `session.message("stream", parent, { name, text })`. */
  message(msgType: string, parent: Message | undefined, content: JsonObject, identities: Buffer[] = []): Message {
    return {
      identities,
      header: {
        msg_id: randomUUID(),
        session: this.id,
        username: "kernel",
        date: new Date().toISOString(),
        msg_type: msgType,
        version: PROTOCOL_VERSION,
      },
      parent_header: parent?.header ?? {},
      metadata: {},
      content,
      buffers: [],
    };
  }

  /** The reply to a request on the socket it came from, routed back with the request's identities. */
  reply(request: Message, content: JsonObject): Message {
    const replyType = request.header.msg_type.replace(/_request$/, "_reply");
    return this.message(replyType, request, content, request.identities);
  }
}
