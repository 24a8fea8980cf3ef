// Types of firestore-wire.js (plain JavaScript, so the measured poll process
// can load it without a TypeScript compiler). See that file for how it counts.

/** One billed operation: `path` is the document (e.g. relations/x/transitions/y), or the collection's parent for an aggregation. */
export interface Op {
  kind: 'reads' | 'writes';
  path: string | null;
  /** The Firestore RPC that carried it, e.g. Commit. */
  method: string;
  /** A write's shape: create, delete, set, or `update:` and the top-level fields it sets. */
  shape?: string;
}

export interface CallTimes {
  count: number;
  totalMs: number;
  maxMs: number;
}

export interface WireCounter {
  /** The @google-cloud/firestore module counted. */
  readonly module: string;
  /** Calls of Firestore methods the counter does not know how to bill, by method. */
  readonly uncounted: Readonly<Record<string, number>>;
  /** Every call by method, billed or not, with how long it took from start to status. */
  readonly calls: Readonly<Record<string, CallTimes>>;
  /** Queries that returned no document: Firestore bills each as one read; not among the ops. */
  readonly emptyQueries: number;
  /** Calls `listener` once per billed operation; returns a function that stops it. */
  onOp(listener: (op: Op) => void): () => void;
  /** Restores the client as it was (calls already started keep the interceptor); a test's cleanup. */
  uninstall(): void;
}

/** Installs the counter on the copy of @google-cloud/firestore the functions' firebase-admin loads (once per process). */
export declare function installWireCounter(functionsDir?: string): WireCounter;

/** `projects/p/databases/(default)/documents/relations/x` → `relations/x`; the database root → ''. */
export declare function documentPath(name: string): string;

/** What one Write does to its document: `create`, `delete`, `set`, or `update:` and its top-level fields, sorted. */
export declare function writeShape(write: {
  update?: object | null;
  delete?: string | null;
  updateMask?: { fieldPaths?: string[] | null } | null;
  currentDocument?: { exists?: boolean | null } | null;
}): string;

/** How one message of a call is billed; `state` is the call's own, kept between its messages. */
export type OnMessage = (
  emit: (kind: Op['kind'], path: string | null) => void,
  request: object,
  response: object,
  state: object,
) => void;

/** How each Firestore method is billed, by method name. */
export declare const BILLING: Readonly<Record<string, { message?: OnMessage }>>;
