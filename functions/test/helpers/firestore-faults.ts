// Firestore faults where the functions' Firestore client meets the network: a gRPC interceptor
// (as bench/firestore-wire.js counts calls) that answers chosen Commits with an error without
// sending them, sends them late, or hands their reply back late (a writer stalled after its write).
// The client's own retries meet it too: UNAVAILABLE is retried for a minute and more, ABORTED
// (contention) by the transaction's five attempts.
import type * as Grpc from '@grpc/grpc-js';
import { createRequire } from 'node:module';

interface Commit {
  writes?: Array<{ update?: { name?: string; fields?: Record<string, unknown> } | null }>;
}

/** A document's path as Firestore names it: `projects/p/databases/d/documents/relations/x`. */
const documentPath = (name: string) => name.slice(name.indexOf('/documents/') + 11);

/**
 * Fails with a code, sends `delayMs` late or replies `replyDelayMs` late, `times` times, each
 * Commit that updates `path` with fields that `writes` picks (its client's retries included);
 * returns how many it met so far, and the way to stop.
 */
export function faultCommits(
  path: string,
  writes: (fields: Record<string, unknown>) => boolean,
  times: number,
  fault: { code: Grpc.status } | { delayMs: number } | { replyDelayMs: number },
): { met(): number; stop(): void } {
  const fromAdmin = createRequire(require.resolve('firebase-admin/firestore'));
  const modulePath = fromAdmin.resolve('@google-cloud/firestore');
  const { Firestore } = fromAdmin('@google-cloud/firestore') as {
    Firestore: { prototype: { createCallOptions: (...args: unknown[]) => unknown } };
  };
  const grpc = createRequire(createRequire(modulePath).resolve('google-gax'))(
    '@grpc/grpc-js',
  ) as typeof Grpc;
  const prototype = Firestore.prototype;
  const original = prototype.createCallOptions;
  let met = 0;
  const matches = (message: unknown) =>
    (message as Commit).writes?.some(
      (write) =>
        write.update?.name !== undefined &&
        documentPath(write.update.name) === path &&
        writes(write.update.fields ?? {}),
    ) === true;
  const interceptor: Grpc.Interceptor = (options, nextCall) => {
    const commit = String(options.method_definition.path).endsWith('/Commit');
    let replyLate = false;
    const later = <T>(value: T, next: (value: T) => void) =>
      replyLate && 'replyDelayMs' in fault
        ? setTimeout(() => next(value), fault.replyDelayMs)
        : next(value);
    const call: Grpc.InterceptingCall = new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        next(metadata, { onReceiveMessage: later, onReceiveStatus: later });
      },
      sendMessage(message, next) {
        if (!commit || met >= times || !matches(message)) return next(message);
        met++;
        if ('code' in fault)
          call.cancelWithStatus(fault.code, `injected: ${grpc.status[fault.code]}`);
        else if ('delayMs' in fault) setTimeout(() => next(message), fault.delayMs);
        else {
          replyLate = true;
          next(message);
        }
      },
    });
    return call;
  };
  prototype.createCallOptions = function withFaults(this: unknown, ...args: unknown[]) {
    const callOptions = original.apply(this, args) as {
      otherArgs?: { options?: { interceptors?: unknown[] } };
    };
    const otherArgs = (callOptions.otherArgs ??= {});
    otherArgs.options = {
      ...otherArgs.options,
      interceptors: [...(otherArgs.options?.interceptors ?? []), interceptor],
    };
    return callOptions;
  };
  return {
    met: () => met,
    stop: () => {
      prototype.createCallOptions = original;
    },
  };
}
