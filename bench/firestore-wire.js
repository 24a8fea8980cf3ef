// @ts-check
// Counts the Firestore operations Firestore bills, where the functions' own
// Firestore client meets the network: a gRPC client interceptor on every call
// the client makes, which sees each request message as it is sent, each
// response message as it arrives, and the call's final status. So it counts
// what was sent and returned, the same way on Google's emulator (which has no
// hook or metrics endpoint for this) and against real Firestore, without
// guessing from the call sites.
//
// What is billed (Firestore's pricing, as the bench counts it):
// - one read per document a BatchGetDocuments (get, getAll, a transaction's
//   get) or RunQuery (a query, a transaction's query) returns, a missing
//   document included; one per aggregation result; one per document a
//   ListDocuments returns, and one per ListCollectionIds call;
// - one write per document written by a Commit (set, create, update, delete,
//   in a batch or a transaction), only if the commit succeeded: a commit is
//   atomic, so a create that meets ALREADY_EXISTS writes nothing; for a
//   BatchWrite (BulkWriter), one per write whose own status is OK;
// - one read per document a Listen stream adds to its result set, changes
//   in it, or drops from it; nothing for a document sent again unchanged
//   (Google's emulator resets the target and resends the whole result on
//   every change, where Firestore sends only the change). A document dropped
//   at such a reset is counted as changed out of the results, never as
//   deleted (which Firestore does not bill): an upper bound;
// - nothing for BeginTransaction and Rollback.
// Firestore also charges one read for a query that returns nothing; that is
// kept apart (`emptyQueries`).
// A method the counter does not know how to bill is tallied in `uncounted`,
// so a new kind of call can never go missing silently.
//
// It is installed by patching Firestore.prototype.createCallOptions of the
// copy of @google-cloud/firestore that the functions' firebase-admin loads
// (functions/node_modules, not the root's), to add the interceptor to the
// gRPC call options that google-gax hands to @grpc/grpc-js. Only that copy is
// counted: the bench host's own reads (its board listener, its measuring)
// go through the root's copy and are not the functions' cost.
//
// Plain JavaScript (typed by firestore-wire.d.ts) because poll-child.js loads
// it too, and the measured poll process must not carry a TypeScript compiler.
'use strict';
const path = require('node:path');
const { createRequire } = require('node:module');

const FUNCTIONS_DIR = path.resolve(__dirname, '..', 'functions');
/** One counter per copy of the module, however often it is installed. */
const INSTALLED = Symbol.for('food-orchestrator.bench.firestore-wire-counter');

/**
 * `projects/p/databases/(default)/documents/relations/x` → `relations/x`;
 * the database root (`…/documents`) → ''.
 * @param {string} name
 */
function documentPath(name) {
  const marker = '/documents';
  const at = name.indexOf(marker);
  if (at < 0) return name;
  return name.slice(at + marker.length).replace(/^\//, '');
}

/**
 * The document one Write of a Commit or BatchWrite writes.
 * @param {{ update?: { name?: string } | null, delete?: string | null, transform?: { document?: string } | null }} write
 * @returns {string | null}
 */
function writtenPath(write) {
  const name = write.update?.name ?? write.delete ?? write.transform?.document;
  return name ? documentPath(name) : null;
}

/**
 * What one Write does to its document: `create`, `delete`, `set`, or the
 * top-level fields of its update mask, sorted (`update:error,stage`).
 * @param {{ update?: object | null, delete?: string | null, updateMask?: { fieldPaths?: string[] | null } | null, currentDocument?: { exists?: boolean | null } | null }} write
 * @returns {string}
 */
function writeShape(write) {
  if (write.delete) return 'delete';
  if (write.currentDocument?.exists === false) return 'create';
  const paths = write.updateMask?.fieldPaths;
  if (!paths) return 'set';
  const fields = [...new Set(paths.map((p) => p.replace(/^`([^`]*)`.*$/, '$1').split('.')[0]))];
  return `update:${fields.sort().join(',')}`;
}

/**
 * @typedef {import('./firestore-wire').Op} Op
 * @typedef {import('./firestore-wire').WireCounter} WireCounter
 * @typedef {{ writes?: Array<Parameters<typeof writtenPath>[0] & Parameters<typeof writeShape>[0]>, parent?: string }} Request
 * @typedef {{
 *   found?: { name: string } | null, missing?: string | null,
 *   document?: { name: string } | null, done?: boolean | null,
 *   result?: object | null, documents?: Array<{ name: string }> | null,
 *   status?: Array<{ code: number }> | null,
 *   documentChange?: { document?: Listened | null, targetIds?: number[] | null } | null,
 *   documentDelete?: { document?: string | null } | null,
 *   documentRemove?: { document?: string | null } | null,
 *   targetChange?: { targetChangeType?: string | null } | null,
 * }} Response
 * @typedef {{ name: string, updateTime?: { seconds?: string | number | null, nanos?: number | null } | null }} Listened
 * @typedef {{
 *   results?: Map<string, string>,
 *   beforeReset?: Map<string, string>,
 * }} CallState what a streaming call's billing remembers between messages
 * @typedef {(emit: (kind: Op['kind'], path: string | null) => void, request: Request, response: Response, state: CallState) => void} OnMessage
 * @typedef {(emit: (kind: Op['kind'], path: string | null, shape?: string) => void, request: Request, responses: Response[], ok: boolean) => void} OnStatus
 * @typedef {{ message?: OnMessage, status?: OnStatus }} Billing
 */

/**
 * How each method of google.firestore.v1.Firestore is billed. Reads are
 * counted as each response arrives (what was returned was billed, even if the
 * stream fails later); writes when the call's status says it committed.
 * @type {Record<string, Billing>}
 */
const BILLING = {
  BatchGetDocuments: {
    message(emit, _request, response) {
      // A response with neither is the transaction id of a lazily begun transaction.
      if (response.found) emit('reads', documentPath(response.found.name));
      else if (response.missing) emit('reads', documentPath(response.missing));
    },
  },
  RunQuery: {
    message(emit, _request, response) {
      if (response.document) emit('reads', documentPath(response.document.name));
    },
  },
  RunAggregationQuery: {
    message(emit, request, response) {
      // Attributed to the collection's parent: relations/{id} for its subcollections.
      if (response.result) emit('reads', request.parent ? documentPath(request.parent) : null);
    },
  },
  Listen: {
    message(emit, _request, response, state) {
      const results = (state.results ??= new Map());
      const version = (/** @type {Listened} */ document) =>
        `${document.updateTime?.seconds ?? ''}.${document.updateTime?.nanos ?? ''}`;
      const change = response.documentChange;
      const type = response.targetChange?.targetChangeType;
      if (type === 'RESET') {
        // The whole result follows; what it leaves out was dropped.
        state.beforeReset = new Map(results);
        results.clear();
      } else if (type === 'CURRENT' && state.beforeReset) {
        for (const name of state.beforeReset.keys())
          if (!results.has(name)) emit('reads', documentPath(name));
        state.beforeReset = undefined;
      } else if (change?.document && (change.targetIds?.length ?? 0) > 0) {
        const { name } = change.document;
        const known = results.get(name) ?? state.beforeReset?.get(name);
        if (known !== version(change.document)) emit('reads', documentPath(name));
        results.set(name, version(change.document));
      } else if (change?.document || response.documentRemove?.document) {
        const name = change?.document?.name ?? String(response.documentRemove?.document);
        if (results.delete(name)) emit('reads', documentPath(name));
      } else if (response.documentDelete?.document) {
        results.delete(response.documentDelete.document);
      }
    },
  },
  ListDocuments: {
    message(emit, _request, response) {
      for (const document of response.documents ?? []) emit('reads', documentPath(document.name));
    },
  },
  ListCollectionIds: {
    status(emit, request, _responses, ok) {
      if (ok) emit('reads', request.parent ? documentPath(request.parent) : null);
    },
  },
  Commit: {
    status(emit, request, _responses, ok) {
      if (ok)
        for (const write of request.writes ?? [])
          emit('writes', writtenPath(write), writeShape(write));
    },
  },
  BatchWrite: {
    status(emit, request, responses, ok) {
      if (!ok) return;
      const statuses = responses[0]?.status ?? [];
      (request.writes ?? []).forEach((write, i) => {
        if ((statuses[i]?.code ?? 0) === 0) emit('writes', writtenPath(write), writeShape(write));
      });
    },
  },
  BeginTransaction: {},
  Rollback: {},
};

/**
 * Installs the counter on the functions' copy of @google-cloud/firestore, once
 * per process, and returns it.
 * @param {string} [functionsDir] the functions package whose firebase-admin is counted
 * @returns {WireCounter}
 */
function installWireCounter(functionsDir = FUNCTIONS_DIR) {
  // Resolved the way the functions' firebase-admin resolves it, so the patched
  // module is the very one their Firestore instances are made from.
  const fromAdmin = createRequire(
    require.resolve('firebase-admin/firestore', { paths: [functionsDir] }),
  );
  const modulePath = fromAdmin.resolve('@google-cloud/firestore');
  /** @type {{ Firestore: { prototype: Record<string | symbol, unknown> } }} */
  const { Firestore } = fromAdmin('@google-cloud/firestore');
  const prototype = Firestore.prototype;
  const existing = /** @type {WireCounter | undefined} */ (prototype[INSTALLED]);
  if (existing) return existing;

  const createCallOptions = prototype.createCallOptions;
  if (typeof createCallOptions !== 'function') {
    throw new Error(
      `${modulePath} has no Firestore.prototype.createCallOptions: the bench's Firestore counter must be updated for this version`,
    );
  }
  // The grpc-js that google-gax (and so this Firestore) uses, for its InterceptingCall.
  /** @type {typeof import('@grpc/grpc-js')} */
  const grpc = createRequire(createRequire(modulePath).resolve('google-gax'))('@grpc/grpc-js');

  /** @type {Set<(op: Op) => void>} */
  const listeners = new Set();
  /** @type {Record<string, number>} */
  const uncounted = {};
  /** @type {Record<string, { count: number, totalMs: number, maxMs: number }>} */
  const calls = {};
  const counter = {
    module: modulePath,
    uncounted,
    calls,
    emptyQueries: 0,
    /** @param {(op: Op) => void} listener */
    onOp(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    uninstall() {
      listeners.clear();
      prototype.createCallOptions = createCallOptions;
      delete prototype[INSTALLED];
    },
  };

  /** @type {import('@grpc/grpc-js').Interceptor} */
  const interceptor = (options, nextCall) => {
    const method = String(options.method_definition.path).split('/').pop() ?? '';
    const billing = BILLING[method];
    if (!billing) uncounted[method] = (uncounted[method] ?? 0) + 1;
    /** @type {Request} */
    let request = {};
    /** @type {Response[]} */
    const responses = [];
    /** @type {CallState} */
    const state = {};
    /** @type {(kind: Op['kind'], path: string | null, shape?: string) => void} */
    const emit = (kind, where, shape) => {
      for (const listener of listeners)
        listener({ kind, path: where, method, ...(shape ? { shape } : {}) });
    };
    const startedAt = performance.now();
    // A query that returned nothing, noted once: at its `done` response, which
    // the client resolves on before the status arrives, or else at the status.
    let answered = false;
    let finished = false;
    const finishQuery = () => {
      if (method === 'RunQuery' && !answered && !finished) counter.emptyQueries++;
      finished = true;
    };
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata, {
          onReceiveMessage(message, nextMessage) {
            const response = /** @type {Response | null} */ (message);
            if (response && billing) {
              if (response.document) answered = true;
              if (billing.status) responses.push(response);
              billing.message?.(emit, request, response, state);
              if (response.done) finishQuery();
            }
            nextMessage(message);
          },
          onReceiveStatus(status, nextStatus) {
            const ok = status.code === grpc.status.OK;
            billing?.status?.(emit, request, responses, ok);
            if (ok) finishQuery();
            // How long the call took, start to status: where the two emulators' wall times part.
            const ms = performance.now() - startedAt;
            const timing = (calls[method] ??= { count: 0, totalMs: 0, maxMs: 0 });
            timing.count++;
            timing.totalMs += ms;
            timing.maxMs = Math.max(timing.maxMs, ms);
            nextStatus(status);
          },
        });
      },
      sendMessage(message, next) {
        // Unary and server-streaming calls send exactly one request message;
        // a Listen stream sends its targets, which its billing does not need.
        request = /** @type {Request} */ (message ?? {});
        next(message);
      },
    });
  };

  prototype.createCallOptions = function withCounter(/** @type {unknown[]} */ ...args) {
    const callOptions = /** @type {{ otherArgs?: { options?: { interceptors?: unknown[] } } }} */ (
      createCallOptions.apply(this, args)
    );
    // The REST transport (preferRest) has no gRPC interceptors: say so rather than count nothing.
    const settings = /** @type {{ _settings?: { preferRest?: boolean } }} */ (this)._settings;
    if (settings?.preferRest)
      uncounted['(REST transport)'] = (uncounted['(REST transport)'] ?? 0) + 1;
    // google-gax passes otherArgs.options to @grpc/grpc-js as the call's options.
    const otherArgs = (callOptions.otherArgs ??= {});
    otherArgs.options = {
      ...otherArgs.options,
      interceptors: [...(otherArgs.options?.interceptors ?? []), interceptor],
    };
    return callOptions;
  };
  prototype[INSTALLED] = counter;
  return counter;
}

module.exports = { installWireCounter, documentPath, writeShape, BILLING };
