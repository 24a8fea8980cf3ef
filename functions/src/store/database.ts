// The slice of Firestore the store uses, so its code runs on Firestore (firestore-database.ts) and
// on the simulation's memory store (functions/sim), both held to test/store-contract.test.ts.
// Times are Dates both ways, DELETE_FIELD removes a field, and failures carry gRPC codes.

export type DocumentData = Record<string, unknown>;

export const DELETE_FIELD: unique symbol = Symbol('DELETE_FIELD');

/** Orders or filters by the document id, as Firestore's FieldPath.documentId() does. */
export const DOCUMENT_ID = '__name__';

/** When a document was last written, exactly: what a precondition compares. */
export type Version = string & { readonly __version: unique symbol };

export interface Precondition {
  /** The write fails with FAILED_PRECONDITION unless the document is still at this version. */
  lastUpdateTime: Version;
}

export interface DocumentSnapshot {
  readonly ref: DocumentReference;
  readonly id: string;
  readonly exists: boolean;
  data(): DocumentData | undefined;
  /** A field by dotted path (`error.code`), or undefined. */
  get(fieldPath: string): unknown;
  /** When the document was last written; undefined for a missing document. */
  readonly updateTime: Date | undefined;
  readonly version: Version | undefined;
}

export interface QuerySnapshot {
  readonly docs: DocumentSnapshot[];
}

export type Operator = '==' | '<' | '<=' | '>' | '>=';

export interface Query {
  where(fieldPath: string, op: Operator, value: unknown): Query;
  orderBy(fieldPath: string): Query;
  /** Cursors name the ordered fields' values, in order (the id for DOCUMENT_ID). */
  startAfter(...values: unknown[]): Query;
  endAt(...values: unknown[]): Query;
  limit(count: number): Query;
  get(): Promise<QuerySnapshot>;
  count(): Promise<number>;
}

export interface CollectionReference extends Query {
  doc(id: string): DocumentReference;
}

export interface DocumentReference {
  readonly id: string;
  readonly path: string;
  collection(id: string): CollectionReference;
  get(): Promise<DocumentSnapshot>;
  /** Fails with ALREADY_EXISTS if the document exists: exactly one caller wins it. */
  create(data: DocumentData): Promise<void>;
  set(data: DocumentData): Promise<void>;
  /** Fields by dotted path; fails with NOT_FOUND if the document is missing. */
  update(data: DocumentData, precondition?: Precondition): Promise<void>;
  delete(): Promise<void>;
}

/** Reads come before writes, as in Firestore; the writes apply together or not at all. */
export interface Transaction {
  get(ref: DocumentReference): Promise<DocumentSnapshot>;
  create(ref: DocumentReference, data: DocumentData): Transaction;
  set(ref: DocumentReference, data: DocumentData): Transaction;
  update(ref: DocumentReference, data: DocumentData): Transaction;
}

export interface Database {
  collection(path: string): CollectionReference;
  doc(path: string): DocumentReference;
  /** The documents in the order asked, missing ones as snapshots that do not exist. */
  getAll(...refs: DocumentReference[]): Promise<DocumentSnapshot[]>;
  /** Runs `update` serializably, again on a conflict; fails with ABORTED if conflicts persist. */
  runTransaction<T>(update: (tx: Transaction) => Promise<T>): Promise<T>;
}
