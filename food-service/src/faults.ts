// Injected trouble, as a load-shedding front end or a slow network would
// cause it: a share of calls fails with UNAVAILABLE before any work is done,
// and every call can be delayed.
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

export class Faults {
  private settings: FaultSettings;
  /** Failures queued by failNext, per method, consumed first. */
  private readonly queued = new Map<FoodMethod, grpc.status[]>();

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

  /** The next `count` calls of `method` fail with `code`, whatever the fail rate. */
  failNext(method: FoodMethod, code: grpc.status, count = 1): void {
    if (code === grpc.status.OK) throw new RangeError(`failNext(${method}) needs an error code, got OK`);
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`failNext(${method}) count must be a positive integer, got ${count}`);
    this.queued.set(method, [...(this.queued.get(method) ?? []), ...Array<grpc.status>(count).fill(code)]);
  }

  /** The status this call of `method` must fail with, or undefined to serve it. */
  take(method: FoodMethod): grpc.status | undefined {
    const queue = this.queued.get(method);
    if (queue?.length) return queue.shift();
    return this.random.chance(this.settings.failRate) ? grpc.status.UNAVAILABLE : undefined;
  }
}
