"""Drives a Jupyter kernel through jupyter_client for test/kernel.test.ts.

Reads a JSON list of steps on stdin, runs them against one kernel (found through JUPYTER_PATH),
and prints a JSON list with one result per step. Steps:

  {"op": "execute", "code": "...", "interrupt_on": "text"?, "stop_on_error": true?}
      -> {"reply": {...}, "outputs": [{"msg_type": ..., "content": ...}], "seconds": s}
      With "interrupt_on", the kernel is interrupted (km.interrupt_kernel: SIGINT, as the
      kernelspec asks) half a second after a stream output containing that text arrives, and
      again every 10 s until the cell ends; "interrupts" counts the signals sent.
  {"op": "execute_queued", "codes": ["...", ...], "stop_on_error": bool}
      -> sends all requests at once, then {"replies": [...]} in order
  {"op": "shutdown", "restart": bool} -> {"reply": {...}, "exit_code": n, "seconds": s}
      The shutdown_request that km.shutdown_kernel / km.restart_kernel send (a restart then starts
      a new process, as at start-up); exit code 0 means the kernel exited by itself.
"""

import json
import sys
import time
from queue import Empty

from jupyter_client.manager import start_new_kernel

TIMEOUT = 60
REPEAT_INTERRUPT = 10


def reply_to(kc, msg_id):
    # wait_for_ready may leave extra kernel_info replies on the shell channel: skip them.
    while True:
        msg = kc.get_shell_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]


def outputs_of(kc, km, msg_id, interrupt_on=None):
    """Iopub output of one request until its idle status; returns (outputs, interrupts sent)."""
    outputs, interrupts, interrupt_at = [], 0, None
    while True:
        if interrupt_at is not None and time.monotonic() >= interrupt_at:
            # A user's "interrupt" click: the first half a second after the cell showed it is
            # running, then again every REPEAT_INTERRUPT seconds (a click that lands in the few
            # milliseconds where Node swaps SIGINT handlers around a vm run can be lost).
            km.interrupt_kernel()
            interrupts += 1
            interrupt_at = time.monotonic() + REPEAT_INTERRUPT
        try:
            msg = kc.get_iopub_msg(timeout=0.1 if interrupt_at is not None else TIMEOUT)
        except Empty:
            if interrupt_at is None or interrupts >= 3:
                raise
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status":
            if content["execution_state"] == "idle":
                return outputs, interrupts
            continue
        outputs.append({"msg_type": kind, "content": content})
        if interrupt_on and interrupts == 0 and interrupt_at is None and kind == "stream" and interrupt_on in content["text"]:
            interrupt_at = time.monotonic() + 0.5


def main():
    steps = json.load(sys.stdin)
    started = time.monotonic()
    km, kc = start_new_kernel(kernel_name="ricci", startup_timeout=TIMEOUT)
    results = [{"op": "start", "seconds": time.monotonic() - started}]
    try:
        for step in steps:
            began = time.monotonic()
            op = step["op"]
            # Progress on stderr: when a step hangs, the test's failure message says which.
            print(f"step {len(results)}: {json.dumps(step)[:120]}", file=sys.stderr, flush=True)
            if op == "execute":
                msg_id = kc.execute(step["code"], stop_on_error=step.get("stop_on_error", True))
                outputs, interrupts = outputs_of(kc, km, msg_id, step.get("interrupt_on"))
                result = {"reply": reply_to(kc, msg_id), "outputs": outputs, "interrupts": interrupts}
            elif op == "execute_queued":
                ids = [kc.execute(code, stop_on_error=step["stop_on_error"]) for code in step["codes"]]
                result = {"replies": [reply_to(kc, msg_id) for msg_id in ids]}
            elif op == "shutdown":
                # What km.restart_kernel / km.shutdown_kernel ask of the kernel, with the reply kept.
                process = km.provisioner.process
                msg_id = kc.shutdown(restart=step.get("restart", False))
                while True:
                    reply = kc.get_control_msg(timeout=TIMEOUT)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
                result = {"reply": reply["content"], "exit_code": process.wait(timeout=TIMEOUT)}
                km.cleanup_resources()
            else:
                raise ValueError(f"unknown op {op!r}")
            result.update(op=op, seconds=time.monotonic() - began)
            results.append(result)
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
