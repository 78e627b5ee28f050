/**
 * The inputs (and plain-text outputs) of this kernel process's cells, for history_request:
 * tail, range and glob search, as IPython answers them. One session per process, numbered 1.
 */
import type { JsonObject } from "./wire.js";

export const HISTORY_SESSION = 1;

interface Entry {
  line: number;
  input: string;
  output: string | null;
}

type HistoryRow = [session: number, line: number, input: string | [input: string, output: string | null]];

/** `*` any run of characters, `?` one character (SQLite GLOB, as IPython's search uses). */
function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === "*" ? "[\\s\\S]*" : c === "?" ? "[\\s\\S]" : `\\${c}`));
  return new RegExp(`^${body}$`);
}

const numberOr = (value: unknown, fallback: number): number => (typeof value === "number" && Number.isFinite(value) ? value : fallback);

export class History {
  private readonly entries: Entry[] = [];

  record(line: number, input: string): void {
    this.entries.push({ line, input, output: null });
  }

  recordOutput(line: number, output: string): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.entries[i].line === line) {
        this.entries[i].output = output;
        return;
      }
    }
  }

  /** The `history` field of a history_reply for a history_request's content. */
  query(request: JsonObject): HistoryRow[] {
    const withOutput = request.output === true;
    const row = (e: Entry): HistoryRow => [HISTORY_SESSION, e.line, withOutput ? [e.input, e.output] : e.input];
    switch (request.hist_access_type) {
      case "tail":
        return this.entries.slice(-numberOr(request.n, 10)).map(row);
      case "range": {
        // Session 0 or negative counts back from the current one; only the current one exists.
        const session = numberOr(request.session, 0);
        if (session !== HISTORY_SESSION && session !== 0) return [];
        const start = numberOr(request.start, 0);
        const stop = numberOr(request.stop, Infinity);
        return this.entries.filter((e) => e.line >= start && e.line < stop).map(row);
      }
      case "search": {
        const pattern = globToRegExp(typeof request.pattern === "string" ? request.pattern : "*");
        let found = this.entries.filter((e) => pattern.test(e.input));
        if (request.unique === true) {
          const newestOfEach = new Map(found.map((e) => [e.input, e]));
          found = found.filter((e) => newestOfEach.get(e.input) === e);
        }
        const n = numberOr(request.n, Infinity);
        return (n >= found.length ? found : found.slice(-n)).map(row);
      }
      default:
        return [];
    }
  }
}
