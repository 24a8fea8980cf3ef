// Everything a call goes through before and after its handler: injected
// latency and faults, the test hooks (before the handler, and after it but
// before the reply), stats, debug logging, and the mapping of thrown errors
// to gRPC statuses.
import * as grpc from '@grpc/grpc-js';
import { setTimeout as delay } from 'node:timers/promises';
import { RpcError } from './errors';
import type { Faults, InjectedFault } from './faults';
import type { FoodMethod } from './methods';
import type { CallStats } from './stats';

/**
 * A service's handlers as plain functions from request to response. The
 * generated handler interfaces carry an index signature, dropped here so only
 * the real methods remain.
 */
export type Implementation<Handlers> = {
  [K in keyof Handlers as string extends K ? never : K]: Handlers[K] extends grpc.handleUnaryCall<
    infer Req,
    infer Res
  >
    ? (request: Req) => Res
    : never;
};

export type CallHook = (method: FoodMethod, request: unknown) => void | Promise<void>;
/**
 * Runs after the handler produced its response and before it is sent: the
 * work is done, the reply not yet on the wire. Tests cut the network here to
 * make "the server did it but the client never heard" happen on purpose.
 */
export type ServedHook = (
  method: FoodMethod,
  request: unknown,
  response: unknown,
) => void | Promise<void>;

export interface CallContext {
  readonly faults: Faults;
  readonly stats: CallStats;
  readonly hook: () => CallHook | undefined;
  readonly servedHook: () => ServedHook | undefined;
  readonly debug: boolean;
  readonly log: (line: string) => void;
}

function toStatus(method: FoodMethod, err: unknown): { code: grpc.status; details: string } {
  if (err instanceof RpcError) return { code: err.code, details: err.details };
  // Anything else is a bug in the simulator or in a test hook.
  return {
    code: grpc.status.INTERNAL,
    details: `${method}: ${err instanceof Error ? err.message : String(err)}`,
  };
}

export function unary<Req, Res>(
  method: FoodMethod,
  handler: (request: Req) => Res,
  context: CallContext,
): grpc.handleUnaryCall<Req, Res> {
  const { faults, stats, hook, servedHook, debug, log } = context;

  const serve = async (request: Req): Promise<Res> => {
    if (faults.latencyMs > 0) await delay(faults.latencyMs);
    const injected = faults.take(method);
    const fail = (fault: InjectedFault): RpcError => {
      stats.recordInjectedFault();
      const timing = fault.when === 'after' ? ' after doing its work' : '';
      return new RpcError(
        fault.code,
        `injected fault: ${method} failed with ${grpc.status[fault.code]}${timing}`,
      );
    };
    if (injected?.when === 'before') throw fail(injected);
    await hook()?.(method, request);
    const response = handler(request);
    // A served hook that throws answers INTERNAL although the work is done, like a server failing after a commit.
    await servedHook()?.(method, request, response);
    if (injected?.when === 'after') throw fail(injected);
    return response;
  };

  return (call, callback) => {
    const started = performance.now();
    serve(call.request).then(
      (response) => {
        stats.record(method, grpc.status.OK);
        if (debug)
          log(
            `[debug] ${method} ${JSON.stringify(call.request)} -> OK ${JSON.stringify(response)} (${elapsed(started)})`,
          );
        callback(null, response);
      },
      (err: unknown) => {
        const status = toStatus(method, err);
        stats.record(method, status.code);
        if (debug || status.code === grpc.status.INTERNAL) {
          log(
            `[${debug ? 'debug' : 'error'}] ${method} ${JSON.stringify(call.request)} -> ${grpc.status[status.code]}: ${status.details} (${elapsed(started)})`,
          );
        }
        callback(status);
      },
    );
  };
}

function elapsed(started: number): string {
  return `${(performance.now() - started).toFixed(1)} ms`;
}
