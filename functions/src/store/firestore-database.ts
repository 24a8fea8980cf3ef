// The store's Database on firebase-admin's Firestore (a plain @google-cloud/firestore client is the
// same class). It only maps Dates, DELETE_FIELD and versions to Firestore's own types.
import {
  FieldPath,
  FieldValue,
  Timestamp,
  type DocumentReference as FirestoreReference,
  type DocumentSnapshot as FirestoreSnapshot,
  type Firestore,
  type Query as FirestoreQuery,
  type Transaction as FirestoreTransaction,
} from 'firebase-admin/firestore';

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
  type Transaction,
  type Version,
} from './database';

function toFirestore(value: unknown): unknown {
  if (value === DELETE_FIELD) return FieldValue.delete();
  if (value instanceof Date) return Timestamp.fromDate(value);
  if (Array.isArray(value)) return value.map(toFirestore);
  if (isPlainObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toFirestore(v)]));
  return value;
}

function fromFirestore(value: unknown): unknown {
  if (value instanceof Timestamp) return value.toDate();
  if (Array.isArray(value)) return value.map(fromFirestore);
  if (isPlainObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromFirestore(v)]));
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

const toData = (data: DocumentData) => toFirestore(data) as DocumentData;

function versionOf(time: Timestamp): Version {
  return `${time.seconds}:${time.nanoseconds}` as Version;
}

function timestampOf(version: Version): Timestamp {
  const [seconds, nanos] = version.split(':').map(Number);
  return new Timestamp(seconds, nanos);
}

const fieldPath = (path: string) => (path === DOCUMENT_ID ? FieldPath.documentId() : path);

class Snapshot implements DocumentSnapshot {
  private converted: DocumentData | undefined;
  constructor(
    private readonly raw: FirestoreSnapshot,
    readonly ref: DocumentReference,
  ) {}
  get id() {
    return this.raw.id;
  }
  get exists() {
    return this.raw.exists;
  }
  data(): DocumentData | undefined {
    const data = this.raw.data();
    if (data === undefined) return undefined;
    this.converted ??= fromFirestore(data) as DocumentData;
    return this.converted;
  }
  get(path: string): unknown {
    return fromFirestore(this.raw.get(path));
  }
  get updateTime() {
    return this.raw.updateTime?.toDate();
  }
  get version() {
    return this.raw.updateTime ? versionOf(this.raw.updateTime) : undefined;
  }
}

class QueryOn implements Query {
  constructor(
    protected readonly db: FirestoreDatabase,
    protected readonly query: FirestoreQuery,
  ) {}
  where(path: string, op: Operator, value: unknown): Query {
    return new QueryOn(this.db, this.query.where(fieldPath(path), op, toFirestore(value)));
  }
  orderBy(path: string): Query {
    return new QueryOn(this.db, this.query.orderBy(fieldPath(path)));
  }
  startAfter(...values: unknown[]): Query {
    return new QueryOn(this.db, this.query.startAfter(...values.map(toFirestore)));
  }
  endAt(...values: unknown[]): Query {
    return new QueryOn(this.db, this.query.endAt(...values.map(toFirestore)));
  }
  limit(count: number): Query {
    return new QueryOn(this.db, this.query.limit(count));
  }
  async get() {
    const snapshot = await this.query.get();
    return { docs: snapshot.docs.map((doc) => this.db.snapshot(doc)) };
  }
  async count() {
    return (await this.query.count().get()).data().count;
  }
}

class Collection extends QueryOn implements CollectionReference {
  constructor(
    db: FirestoreDatabase,
    private readonly collectionPath: string,
  ) {
    super(db, db.firestore.collection(collectionPath));
  }
  doc(id: string): DocumentReference {
    return this.db.doc(`${this.collectionPath}/${id}`);
  }
}

class Reference implements DocumentReference {
  readonly raw: FirestoreReference;
  constructor(
    private readonly db: FirestoreDatabase,
    readonly path: string,
  ) {
    this.raw = db.firestore.doc(path);
  }
  get id() {
    return this.raw.id;
  }
  collection(id: string): CollectionReference {
    return this.db.collection(`${this.path}/${id}`);
  }
  async get() {
    return this.db.snapshot(await this.raw.get());
  }
  async create(data: DocumentData) {
    await this.raw.create(toData(data));
  }
  async set(data: DocumentData) {
    await this.raw.set(toData(data));
  }
  async update(data: DocumentData, precondition?: Precondition) {
    if (precondition)
      await this.raw.update(toData(data), {
        lastUpdateTime: timestampOf(precondition.lastUpdateTime),
      });
    else await this.raw.update(toData(data));
  }
  async delete() {
    await this.raw.delete();
  }
}

class TransactionOn implements Transaction {
  constructor(
    private readonly db: FirestoreDatabase,
    private readonly tx: FirestoreTransaction,
  ) {}
  async get(ref: DocumentReference) {
    return this.db.snapshot(await this.tx.get(this.db.raw(ref)));
  }
  create(ref: DocumentReference, data: DocumentData) {
    this.tx.create(this.db.raw(ref), toData(data));
    return this;
  }
  set(ref: DocumentReference, data: DocumentData) {
    this.tx.set(this.db.raw(ref), toData(data));
    return this;
  }
  update(ref: DocumentReference, data: DocumentData) {
    this.tx.update(this.db.raw(ref), toData(data));
    return this;
  }
}

export class FirestoreDatabase implements Database {
  constructor(readonly firestore: Firestore) {}

  collection(path: string): CollectionReference {
    return new Collection(this, path);
  }
  doc(path: string): DocumentReference {
    return new Reference(this, path);
  }
  async getAll(...refs: DocumentReference[]) {
    if (refs.length === 0) return [];
    return (await this.firestore.getAll(...refs.map((ref) => this.raw(ref)))).map((doc) =>
      this.snapshot(doc),
    );
  }
  runTransaction<T>(update: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.firestore.runTransaction((tx) => update(new TransactionOn(this, tx)));
  }

  /** @internal */
  snapshot(raw: FirestoreSnapshot): DocumentSnapshot {
    return new Snapshot(raw, this.doc(raw.ref.path));
  }
  /** @internal */
  raw(ref: DocumentReference): FirestoreReference {
    return ref instanceof Reference ? ref.raw : this.firestore.doc(ref.path);
  }
}
