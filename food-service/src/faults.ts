// Injected trouble, as a load-shedding front end, a broken server or a slow
// network would cause it: a share of calls fails with UNAVAILABLE before any
// work is done, every call can be delayed, and any method can be made to
// answer any code, before doing its work or after it (the work done, the
// reply lost to the code), for its next calls or for every call.
import * as grpc from '@grpc/grpc-js';
import type { FoodMethod } from './methods';
import type { Random } from './random';

export interface FaultSettings {
  failRate: number;
  latencyMs: number;
}

export function checkFaultSettings(settings: Partial<FaultSettings>): void {
  const { failRate, latencyMs } = settings;
  if (failRate !== undefined && !(failRate >= 0 && failRate <= 1)) {
    throw new RangeError(`failRate must be between 0 and 1, got ${failRate}`);
  }
  if (latencyMs !== undefined && !(Number.isFinite(latencyMs) && latencyMs >= 0)) {
    throw new RangeError(`latencyMs must be a non-negative number, got ${latencyMs}`);
  }
}

/** When an injected code answers: instead of the work, or once the work is done. */
export type FaultTiming = 'before' | 'after';

/** The code a call answers with, and whether its work is done first. */
export interface InjectedFault {
  code: grpc.status;
  when: FaultTiming;
}

function checkCode(what: string, code: grpc.status): void {
  if (code === grpc.status.OK) throw new RangeError(`${what} needs an error code, got OK`);
  if (grpc.status[code] === undefined)
    throw new RangeError(`${what}: ${code} is not a gRPC status code`);
}

export class Faults {
  private settings: FaultSettings;
  /** Failures queued by failNext, per method, consumed first. */
  private readonly queued = new Map<FoodMethod, InjectedFault[]>();
  /** Failures set by failAll, per method: every call, until cleared. */
  private readonly always = new Map<FoodMethod, InjectedFault>();

  constructor(
    private readonly random: Random,
    settings: FaultSettings,
  ) {
    checkFaultSettings(settings);
    this.settings = { ...settings };
  }

  get latencyMs(): number {
    return this.settings.latencyMs;
  }

  set(settings: Partial<FaultSettings>): void {
    checkFaultSettings(settings);
    this.settings = {
      failRate: settings.failRate ?? this.settings.failRate,
      latencyMs: settings.latencyMs ?? this.settings.latencyMs,
    };
  }

  /** The next `count` calls of `method` fail with `code`, whatever the fail rate: before their work, or after it. */
  failNext(method: FoodMethod, code: grpc.status, count = 1, when: FaultTiming = 'before'): void {
    checkCode(`failNext(${method})`, code);
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`failNext(${method}) count must be a positive integer, got ${count}`);
    this.queued.set(method, [
      ...(this.queued.get(method) ?? []),
      ...Array.from({ length: count }, () => ({ code, when })),
    ]);
  }

  /** Every call of `method` fails with `code` (before or after its work) until cleared with undefined. Queued failures come first. */
  failAll(method: FoodMethod, fault: InjectedFault | undefined): void {
    if (!fault) {
      this.always.delete(method);
      return;
    }
    checkCode(`failAll(${method})`, fault.code);
    this.always.set(method, { ...fault });
  }

  /** The fault this call of `method` must answer with, or undefined to serve it. */
  take(method: FoodMethod): InjectedFault | undefined {
    const queue = this.queued.get(method);
    if (queue?.length) return queue.shift();
    const always = this.always.get(method);
    if (always) return always;
    return this.random.chance(this.settings.failRate)
      ? { code: grpc.status.UNAVAILABLE, when: 'before' }
      : undefined;
  }
}
