// The simulation's store: the store's Database (src/store/database.ts) in
// memory, with Firestore's semantics for what the orchestrator uses:
// create-if-absent, updates by dotted field path, update-time
// preconditions, serializable transactions that run again on a conflict and
// fail with ABORTED after five tries, reads before writes, the queries the
// poll and the listings make (Firestore's value order, documents without an
// ordered or filtered field left out, cursors), and the 1 MiB document
// limit. Each call passes through `io`, where the simulation decides when it
// reaches the store and whether its caller ever hears back. The contract
// suite (test/store-contract.test.ts) holds it to Google's emulator.
import { status } from '@grpc/grpc-js';

import {
  DELETE_FIELD,
  DOCUMENT_ID,
  type CollectionReference,
  type Database,
  type DocumentData,
  type DocumentReference,
  type DocumentSnapshot,
  type Operator,
  type Precondition,
  type Query,
  type QuerySnapshot,
  type Transaction,
  type Version,
} from '../src/store/database';

/** One call on the store, as the simulation sees it. */
export interface StoreCall {
  op:
    | 'get'
    | 'getAll'
    | 'create'
    | 'set'
    | 'update'
    | 'delete'
    | 'query'
    | 'count'
    | 'tx.get'
    | 'commit';
  paths: string[];
  /** The documents it writes, if it writes. */
  writes?: string[];
}

/** Where the simulation steps in: `apply` is the call's effect, run when the call reaches the store. */
export type StoreIo = <T>(call: StoreCall, apply: () => T) => Promise<T>;

/** A committed write, for whoever watches (the simulated platform's trigger events). */
export interface WriteEvent {
  path: string;
  before: DocumentData | null;
  after: DocumentData | null;
}

interface Stored {
  data: DocumentData;
  version: number;
  updateTime: Date;
}

/** Firestore's limit on one document, less a little for the name and indexes' overhead. */
const MAX_DOCUMENT_BYTES = 1_048_487;
/**
 * Firestore locks what a transaction reads, so contending transactions wait
 * for each other; this store instead runs a transaction again when what it
 * read changed. The committed outcomes are the same serializable ones; the
 * generous bound keeps it from failing where Firestore would have waited.
 * The simulation injects ABORTED on its own where it wants that failure.
 */
const TRANSACTION_ATTEMPTS = 25;

export function storeError(code: status, message: string): Error {
  return Object.assign(new Error(`${code} ${status[code]}: ${message}`), {
    code,
    details: message,
  });
}

const versionString = (n: number) => String(n) as Version;

export interface MemoryDatabaseOptions {
  io?: StoreIo;
  now?: () => Date;
  onWrite?: (event: WriteEvent) => void;
}

export class MemoryDatabase implements Database {
  private readonly docs = new Map<string, Stored>();
  /** Each collection's document paths, so a query reads its collection alone. */
  private readonly collections = new Map<string, Set<string>>();
  private lastVersion = 0;
  readonly io: StoreIo;
  private readonly now: () => Date;
  private readonly onWrite: ((event: WriteEvent) => void) | undefined;

  constructor(options: MemoryDatabaseOptions = {}) {
    this.io = options.io ?? ((_call, apply) => Promise.resolve().then(apply));
    this.now = options.now ?? (() => new Date());
    this.onWrite = options.onWrite;
  }

  collection(path: string): CollectionReference {
    if (path.split('/').length % 2 !== 1) throw new Error(`${path} is not a collection path`);
    return new MemoryCollection(this, path);
  }

  doc(path: string): DocumentReference {
    if (path.split('/').length % 2 !== 0) throw new Error(`${path} is not a document path`);
    return new MemoryReference(this, path);
  }

  getAll(...refs: DocumentReference[]): Promise<DocumentSnapshot[]> {
    return this.io({ op: 'getAll', paths: refs.map((r) => r.path) }, () =>
      refs.map((ref) => this.read(ref.path)),
    );
  }

  async runTransaction<T>(update: (tx: Transaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; attempt <= TRANSACTION_ATTEMPTS; attempt++) {
      const tx = new MemoryTransaction(this);
      const result = await update(tx);
      const committed = await this.io(
        { op: 'commit', paths: tx.paths(), writes: tx.writePaths() },
        () => tx.commit(),
      );
      if (committed) return result;
    }
    throw storeError(
      status.ABORTED,
      `the transaction conflicted with other writes ${TRANSACTION_ATTEMPTS} times`,
    );
  }

  /** Every document, for the simulation's checks: path → data. */
  dump(): Map<string, DocumentData> {
    return new Map([...this.docs].map(([path, stored]) => [path, structuredClone(stored.data)]));
  }

  // ---- internals, used by the references, queries and transactions below ----

  read(path: string): DocumentSnapshot {
    const stored = this.docs.get(path);
    return new MemorySnapshot(
      this,
      path,
      stored ? structuredClone(stored.data) : undefined,
      stored,
    );
  }

  versionOf(path: string): number {
    return this.docs.get(path)?.version ?? 0;
  }

  /** Applies writes at once; each is checked first, so none applies if one fails. */
  write(writes: Write[]): void {
    const next = new Map<string, DocumentData | null>();
    const current = (path: string) =>
      next.has(path) ? next.get(path) : (this.docs.get(path)?.data ?? null);
    for (const w of writes) {
      const existing = current(w.path);
      switch (w.kind) {
        case 'create':
          if (existing)
            throw storeError(status.ALREADY_EXISTS, `Document already exists: ${w.path}`);
          next.set(w.path, withoutDeletes(w.data, w.path));
          break;
        case 'set':
          next.set(w.path, withoutDeletes(w.data, w.path));
          break;
        case 'update':
          if (!existing) throw storeError(status.NOT_FOUND, `No document to update: ${w.path}`);
          if (
            w.precondition &&
            versionString(this.versionOf(w.path)) !== w.precondition.lastUpdateTime
          ) {
            throw storeError(
              status.FAILED_PRECONDITION,
              `the document ${w.path} changed since ${w.precondition.lastUpdateTime}`,
            );
          }
          next.set(w.path, applyUpdate(existing, w.data, w.path));
          break;
        case 'delete':
          next.set(w.path, null);
          break;
        default: {
          const unreachable: never = w;
          throw new Error(`unknown write ${JSON.stringify(unreachable)}`);
        }
      }
    }
    for (const [path, data] of next) {
      if (data && byteSize(data) > MAX_DOCUMENT_BYTES) {
        throw storeError(
          status.INVALID_ARGUMENT,
          `Document ${path} cannot be written because it exceeds the maximum size allowed`,
        );
      }
    }
    const updateTime = this.now();
    for (const [path, data] of next) {
      const before = this.docs.get(path)?.data ?? null;
      const collection = path.slice(0, path.lastIndexOf('/'));
      if (data) {
        this.docs.set(path, { data, version: ++this.lastVersion, updateTime });
        let ids = this.collections.get(collection);
        if (!ids) this.collections.set(collection, (ids = new Set()));
        ids.add(path);
      } else {
        this.docs.delete(path);
        this.collections.get(collection)?.delete(path);
      }
      if (before || data)
        this.onWrite?.({
          path,
          before: before && structuredClone(before),
          after: data && structuredClone(data),
        });
    }
  }

  run(query: QuerySpec): DocumentSnapshot[] {
    let matches = [...(this.collections.get(query.collection) ?? [])].map((path) => ({
      path,
      stored: this.docs.get(path) as Stored,
      id: path.slice(query.collection.length + 1),
    }));
    const value = (m: (typeof matches)[number], field: string): unknown =>
      field === DOCUMENT_ID ? m.id : fieldAt(m.stored.data, field);
    for (const filter of query.filters)
      matches = matches.filter((m) =>
        matchesFilter(value(m, filter.field), filter.op, filter.value),
      );
    // Firestore leaves out documents without a field the query orders by.
    for (const field of query.order) matches = matches.filter((m) => value(m, field) !== undefined);
    const order = query.order.includes(DOCUMENT_ID) ? query.order : [...query.order, DOCUMENT_ID];
    const compareTo = (m: (typeof matches)[number], cursor: unknown[]) => {
      for (const [i, field] of order.entries()) {
        if (i >= cursor.length) return 0;
        const c = compareValues(value(m, field), cursor[i]);
        if (c !== 0) return c;
      }
      return 0;
    };
    matches.sort((a, b) => {
      for (const field of order) {
        const c = compareValues(value(a, field), value(b, field));
        if (c !== 0) return c;
      }
      return 0;
    });
    const { startAfter, endAt } = query;
    if (startAfter) matches = matches.filter((m) => compareTo(m, startAfter) > 0);
    if (endAt) matches = matches.filter((m) => compareTo(m, endAt) <= 0);
    if (query.limit !== undefined) matches = matches.slice(0, query.limit);
    return matches.map(
      (m) =>
        new MemorySnapshot(
          this,
          m.path,
          query.select ? {} : structuredClone(m.stored.data),
          m.stored,
        ),
    );
  }
}

type Write =
  | { kind: 'create' | 'set'; path: string; data: DocumentData }
  | { kind: 'update'; path: string; data: DocumentData; precondition?: Precondition }
  | { kind: 'delete'; path: string };

interface QuerySpec {
  collection: string;
  filters: Array<{ field: string; op: Operator; value: unknown }>;
  order: string[];
  startAfter?: unknown[];
  endAt?: unknown[];
  limit?: number;
  select?: boolean;
}

class MemorySnapshot implements DocumentSnapshot {
  readonly ref: DocumentReference;
  readonly id: string;
  readonly exists: boolean;
  readonly updateTime: Date | undefined;
  readonly version: Version | undefined;
  constructor(
    db: MemoryDatabase,
    path: string,
    private readonly fields: DocumentData | undefined,
    stored: Stored | undefined,
  ) {
    this.ref = db.doc(path);
    this.id = path.split('/').at(-1) ?? '';
    this.exists = fields !== undefined;
    this.updateTime = stored?.updateTime;
    this.version = stored ? versionString(stored.version) : undefined;
  }
  data() {
    return this.fields;
  }
  get(fieldPath: string) {
    return this.fields ? fieldAt(this.fields, fieldPath) : undefined;
  }
}

class MemoryQuery implements Query {
  constructor(
    protected readonly db: MemoryDatabase,
    protected readonly spec: QuerySpec,
  ) {}
  private with(change: Partial<QuerySpec>): Query {
    return new MemoryQuery(this.db, { ...this.spec, ...change });
  }
  where(field: string, op: Operator, value: unknown) {
    return this.with({ filters: [...this.spec.filters, { field, op, value }] });
  }
  orderBy(field: string) {
    return this.with({ order: [...this.spec.order, field] });
  }
  startAfter(...values: unknown[]) {
    return this.with({ startAfter: values });
  }
  endAt(...values: unknown[]) {
    return this.with({ endAt: values });
  }
  limit(count: number) {
    return this.with({ limit: count });
  }
  get(): Promise<QuerySnapshot> {
    return this.db.io({ op: 'query', paths: [this.spec.collection] }, () => ({
      docs: this.db.run(this.spec),
    }));
  }
  count(): Promise<number> {
    return this.db.io(
      { op: 'count', paths: [this.spec.collection] },
      () => this.db.run({ ...this.spec, select: true }).length,
    );
  }
}

class MemoryCollection extends MemoryQuery implements CollectionReference {
  readonly id: string;
  constructor(
    db: MemoryDatabase,
    readonly path: string,
  ) {
    super(db, { collection: path, filters: [], order: [] });
    this.id = path.split('/').at(-1) ?? '';
  }
  doc(id: string) {
    return this.db.doc(`${this.path}/${id}`);
  }
}

class MemoryReference implements DocumentReference {
  readonly id: string;
  constructor(
    private readonly db: MemoryDatabase,
    readonly path: string,
  ) {
    this.id = path.split('/').at(-1) ?? '';
  }
  collection(id: string) {
    return this.db.collection(`${this.path}/${id}`);
  }
  get() {
    return this.db.io({ op: 'get', paths: [this.path] }, () => this.db.read(this.path));
  }
  async create(data: DocumentData) {
    checkValue(data, this.path);
    return this.db.io({ op: 'create', paths: [this.path], writes: [this.path] }, () =>
      this.db.write([{ kind: 'create', path: this.path, data }]),
    );
  }
  async set(data: DocumentData) {
    checkValue(data, this.path);
    return this.db.io({ op: 'set', paths: [this.path], writes: [this.path] }, () =>
      this.db.write([{ kind: 'set', path: this.path, data }]),
    );
  }
  async update(data: DocumentData, precondition?: Precondition) {
    checkValue(data, this.path);
    return this.db.io({ op: 'update', paths: [this.path], writes: [this.path] }, () =>
      this.db.write([
        { kind: 'update', path: this.path, data, ...(precondition ? { precondition } : {}) },
      ]),
    );
  }
  delete() {
    return this.db.io({ op: 'delete', paths: [this.path], writes: [this.path] }, () =>
      this.db.write([{ kind: 'delete', path: this.path }]),
    );
  }
}

class MemoryTransaction implements Transaction {
  private readonly reads = new Map<string, number>();
  private readonly writes: Write[] = [];
  constructor(private readonly db: MemoryDatabase) {}

  get(ref: DocumentReference): Promise<DocumentSnapshot> {
    return this.getAll(ref).then(([snapshot]) => snapshot);
  }
  async getAll(...refs: DocumentReference[]): Promise<DocumentSnapshot[]> {
    if (this.writes.length > 0)
      throw new Error('Firestore transactions require all reads to be executed before all writes.');
    return this.db.io({ op: 'tx.get', paths: refs.map((r) => r.path) }, () =>
      refs.map((ref) => {
        const snapshot = this.db.read(ref.path);
        if (!this.reads.has(ref.path)) this.reads.set(ref.path, this.db.versionOf(ref.path));
        return snapshot;
      }),
    );
  }
  create(ref: DocumentReference, data: DocumentData) {
    checkValue(data, ref.path);
    this.writes.push({ kind: 'create', path: ref.path, data });
    return this;
  }
  set(ref: DocumentReference, data: DocumentData) {
    checkValue(data, ref.path);
    this.writes.push({ kind: 'set', path: ref.path, data });
    return this;
  }
  update(ref: DocumentReference, data: DocumentData) {
    checkValue(data, ref.path);
    this.writes.push({ kind: 'update', path: ref.path, data });
    return this;
  }
  paths(): string[] {
    return [...new Set([...this.reads.keys(), ...this.writePaths()])];
  }
  writePaths(): string[] {
    return [...new Set(this.writes.map((w) => w.path))];
  }
  /** False when a document it read changed since: the transaction runs again. */
  commit(): boolean {
    for (const [path, version] of this.reads) if (this.db.versionOf(path) !== version) return false;
    if (this.writes.length > 0) this.db.write(this.writes);
    return true;
  }
}

function fieldAt(data: DocumentData, fieldPath: string): unknown {
  let value: unknown = data;
  for (const part of fieldPath.split('.')) {
    if (
      value === null ||
      typeof value !== 'object' ||
      Array.isArray(value) ||
      value instanceof Date
    )
      return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function applyUpdate(existing: DocumentData, changes: DocumentData, path: string): DocumentData {
  const result = structuredClone(existing);
  for (const [fieldPath, value] of Object.entries(changes)) {
    const parts = fieldPath.split('.');
    let target: Record<string, unknown> = result;
    for (const part of parts.slice(0, -1)) {
      const inner = target[part];
      if (
        inner === null ||
        typeof inner !== 'object' ||
        Array.isArray(inner) ||
        inner instanceof Date
      ) {
        if (value === DELETE_FIELD) break;
        target[part] = {};
      }
      target = target[part] as Record<string, unknown>;
    }
    const last = parts[parts.length - 1];
    if (value === DELETE_FIELD) delete target[last];
    else target[last] = withoutDeletes(value, path);
  }
  return result;
}

/** A copy of a value to store; DELETE_FIELD only belongs at the top of an update. */
function withoutDeletes<T>(value: T, path: string): T {
  if (value === DELETE_FIELD)
    throw storeError(
      status.INVALID_ARGUMENT,
      `${path}: DELETE_FIELD may only appear at the top of an update`,
    );
  if (Array.isArray(value)) return value.map((v) => withoutDeletes(v, path)) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, withoutDeletes(v, path)]),
    ) as T;
  }
  return value;
}

/** Firestore refuses undefined (unless told to ignore it) and anything that is not a plain value. */
function checkValue(value: unknown, where: string): void {
  if (value === undefined) throw new Error(`${where}: Cannot use "undefined" as a Firestore value`);
  if (value === null || value === DELETE_FIELD || value instanceof Date) return;
  if (typeof value === 'number' && !Number.isFinite(value) && !Number.isNaN(value)) return;
  if (Array.isArray(value)) {
    for (const item of value) {
      if (Array.isArray(item)) throw new Error(`${where}: Cannot have nested arrays in Firestore`);
      checkValue(item, where);
    }
    return;
  }
  if (typeof value === 'object') {
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null)
      throw new Error(`${where}: Cannot use a custom object as a Firestore value`);
    for (const inner of Object.values(value)) checkValue(inner, where);
    return;
  }
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    throw new Error(`${where}: Cannot use a ${typeof value} as a Firestore value`);
  }
}

/** Firestore's order of values of different types, and within a type. */
function typeRank(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'boolean') return 1;
  if (typeof value === 'number') return 2;
  if (value instanceof Date) return 3;
  if (typeof value === 'string') return 4;
  if (Array.isArray(value)) return 6;
  return 7;
}

function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'boolean' || typeof a === 'number') return Number(a) - Number(b);
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  if (typeof a === 'string' && typeof b === 'string')
    return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return 0;
}

function matchesFilter(value: unknown, op: Operator, expected: unknown): boolean {
  if (value === undefined) return false;
  // Inequalities compare within a type only, as in Firestore.
  if (op !== '==' && typeRank(value) !== typeRank(expected)) return false;
  const c = compareValues(value, expected);
  switch (op) {
    case '==':
      return typeRank(value) === typeRank(expected) && c === 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
    default: {
      const unreachable: never = op;
      throw new Error(`unknown operator ${String(unreachable)}`);
    }
  }
}

/** A document's size as Firestore counts it, near enough: field names and values. */
function byteSize(value: unknown): number {
  if (value === null || value === undefined) return 1;
  if (typeof value === 'boolean') return 1;
  if (typeof value === 'number' || value instanceof Date) return 8;
  if (typeof value === 'string') return Buffer.byteLength(value) + 1;
  if (Array.isArray(value)) return value.reduce((sum: number, v) => sum + byteSize(v), 0);
  return Object.entries(value).reduce(
    (sum, [k, v]) => sum + Buffer.byteLength(k) + 1 + byteSize(v),
    0,
  );
}
