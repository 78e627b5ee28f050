/**
 * The kernel's five ZeroMQ sockets, bound to the ports of the connection file Jupyter writes:
 * shell and control (requests and replies), iopub (broadcast outputs and status; an XPUB, which
 * also tells whether a client has subscribed yet), stdin (unused: cells cannot prompt),
 * heartbeat (echo).
 */
import { readFileSync } from "node:fs";
import * as zmq from "zeromq";
import { decode, encode, type Message, Signer } from "./wire.js";

/** The connection file's fields (https://jupyter-client.readthedocs.io/en/latest/kernels.html#connection-files). */
export interface ConnectionInfo {
  transport: string;
  ip: string;
  key: string;
  signature_scheme: string;
  shell_port: number;
  iopub_port: number;
  control_port: number;
  stdin_port: number;
  hb_port: number;
}

export function readConnectionFile(path: string): ConnectionInfo {
  return JSON.parse(readFileSync(path, "utf8")) as ConnectionInfo;
}

export type RequestChannel = "shell" | "control";

/** Bound sockets; incoming requests go to `onRequest`, undecodable frames to `onBadMessage`. */
export class Channels {
  private readonly signer: Signer;
  private readonly shell = new zmq.Router();
  private readonly control = new zmq.Router();
  private readonly iopub = new zmq.XPublisher();
  private readonly stdin = new zmq.Router();
  private readonly heartbeat = new zmq.Reply();
  private closed = false;
  /**
   * Whether a client listens on iopub now. Until its subscription arrives, what the kernel
   * publishes is lost, and a client checking its connection (jupyter_client's wait_for_ready)
   * asks for kernel_info again.
   */
  subscribed = false;

  constructor(
    private readonly connection: ConnectionInfo,
    private readonly onRequest: (channel: RequestChannel, message: Message) => void,
    private readonly onBadMessage: (error: unknown) => void,
  ) {
    this.signer = new Signer(connection.key, connection.signature_scheme);
  }

  async bind(): Promise<void> {
    const { transport, ip } = this.connection;
    const address = (port: number): string => `${transport}://${ip}${transport === "ipc" ? "-" : ":"}${port}`;
    await Promise.all([
      this.shell.bind(address(this.connection.shell_port)),
      this.control.bind(address(this.connection.control_port)),
      this.iopub.bind(address(this.connection.iopub_port)),
      this.stdin.bind(address(this.connection.stdin_port)),
      this.heartbeat.bind(address(this.connection.hb_port)),
    ]);
    void this.receive("shell", this.shell);
    void this.receive("control", this.control);
    void this.echoHeartbeats();
    void this.watchSubscriptions();
  }

  /**
   * Sends a reply on the socket its request came from. ZeroMQ queues it at once (ROUTER and PUB
   * never block), so output written just before a cell blocks the thread still leaves.
   */
  send(channel: RequestChannel, message: Message): Promise<void> {
    return this.sendFrames(channel === "shell" ? this.shell : this.control, message);
  }

  publish(message: Message): Promise<void> {
    return this.sendFrames(this.iopub, message);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const socket of [this.shell, this.control, this.iopub, this.stdin, this.heartbeat]) socket.close();
  }

  private sendFrames(socket: zmq.Router | zmq.XPublisher, message: Message): Promise<void> {
    if (this.closed) return Promise.resolve();
    return socket.send(encode(this.signer, message)).catch((error: unknown) => this.onBadMessage(error));
  }

  private async receive(channel: RequestChannel, socket: zmq.Router): Promise<void> {
    try {
      for await (const frames of socket) {
        let message: Message;
        try {
          message = decode(this.signer, frames);
        } catch (error) {
          this.onBadMessage(error);
          continue;
        }
        this.onRequest(channel, message);
      }
    } catch (error) {
      if (!this.closed) this.onBadMessage(error);
    }
  }

  /** An XPUB receives a subscription as byte 1 + topic, its end as byte 0 + topic (the last subscriber of a topic gone). */
  private async watchSubscriptions(): Promise<void> {
    try {
      for await (const [frame] of this.iopub) {
        if (frame !== undefined && frame.length > 0) this.subscribed = frame[0] === 1;
      }
    } catch (error) {
      if (!this.closed) this.onBadMessage(error);
    }
  }

  private async echoHeartbeats(): Promise<void> {
    try {
      for await (const frames of this.heartbeat) await this.heartbeat.send(frames);
    } catch (error) {
      if (!this.closed) this.onBadMessage(error);
    }
  }
}
