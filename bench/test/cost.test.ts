import { strict as assert } from 'node:assert';

import {
  billedSeconds,
  dollars,
  none,
  PRICES,
  resourcesOf,
  scale,
  taskOperations,
  usd,
} from '../cost';
import { orderUsage, restTable } from '../cost-report';
import type { LifecycleResult } from '../lifecycle';
import type { PollMeasurement } from '../poll-scaling';

const tools = {
  defaultMemoryMb: 256,
  gen1Cpu: (mb: number) => ({ 256: 0.1666, 512: 0.3333 })[mb] ?? NaN,
  gen2Cpu: (mb: number) => (mb <= 2048 ? 1 : 2),
};
const oneCpu = { vcpu: 1, memoryGib: 0.5 };
const resources = {
  pollFoodService: oneCpu,
  advanceRelation: { vcpu: 1, memoryGib: 0.25 },
  observeShard: oneCpu,
};

describe('bench cost model', () => {
  it('bills instance time in 100 ms steps', () => {
    assert.equal(billedSeconds(1), 0.1);
    assert.equal(billedSeconds(100), 0.1);
    assert.equal(billedSeconds(101), 0.2);
    assert.equal(billedSeconds(0), 0);
  });

  it('bills a task per 32 KiB started, for its enqueue and each delivery', () => {
    assert.equal(taskOperations(100), 2);
    assert.equal(taskOperations(32 * 1024), 2);
    assert.equal(taskOperations(32 * 1024 + 1), 4);
    assert.equal(taskOperations(80_000, 2), 9);
  });

  it('prices each kind of usage at the list price', () => {
    const million = (part: object) => dollars(scale({ ...none, ...part }, 1_000_000), oneCpu);
    assert.equal(
      million({ reads: 1 }).firestore.toFixed(2),
      (PRICES.firestore.readsPer100k * 10).toFixed(2),
    );
    assert.equal(million({ writes: 1 }).total.toFixed(2), '0.90');
    assert.equal(million({ deletes: 1 }).total.toFixed(2), '0.10');
    assert.equal(million({ invocations: 1 }).requests.toFixed(2), '0.40');
    assert.equal(million({ taskOperations: 1 }).tasks.toFixed(2), '0.40');
    // A second of 1 vCPU and 0.5 GiB: 0.000024 + 0.5 × 0.0000025.
    assert.equal(dollars({ ...none, instanceSeconds: 1 }, oneCpu).compute.toFixed(8), '0.00002525');
  });

  it("resolves a function's CPU and memory as firebase-tools does", () => {
    assert.deepEqual(resourcesOf({ availableMemoryMb: 512, cpu: 1 }, tools), {
      vcpu: 1,
      memoryGib: 0.5,
    });
    assert.deepEqual(
      resourcesOf({}, tools),
      { vcpu: 1, memoryGib: 0.25 },
      'the 2nd-gen default: 256 MiB, 1 vCPU',
    );
    assert.deepEqual(resourcesOf({ availableMemoryMb: 512, cpu: 'gcf_gen1' }, tools), {
      vcpu: 0.3333,
      memoryGib: 0.5,
    });
    assert.deepEqual(
      resourcesOf({ availableMemoryMb: {} }, tools),
      { vcpu: 1, memoryGib: 0.25 },
      'a param resolves at deploy: the default here',
    );
  });

  it('writes dollars with the digits that tell small costs apart', () => {
    assert.equal(usd(0), '$0');
    assert.equal(usd(0.012345), '$0.012');
    assert.equal(usd(12.345), '$12.35');
    assert.equal(usd(12_345.6), '$12,346');
  });

  it("leaves the polls' reads out of an order's own cost: they depend on the interval", () => {
    const stat = (mean: number) => ({ mean, max: mean });
    const lifecycle = {
      byOutcome: {
        DELIVERED: {
          orders: 1,
          rpcs: {},
          reads: stat(8),
          pollReads: stat(2),
          writes: stat(9),
          invocations: stat(6),
          documents: stat(4),
        },
      },
      invocationMs: { mean: 40, p50: 30, p95: 90, billedMean: 100 },
      // The instance's busy time, measured: less than six invocations billed alone (0.6 s) would be.
      busySecondsPerOrder: 0.25,
    } as unknown as LifecycleResult;
    assert.deepEqual(orderUsage(lifecycle), {
      ...none,
      reads: 6,
      writes: 9,
      deletes: 4,
      invocations: 6,
      instanceSeconds: 0.25,
    });
    assert.equal(orderUsage({ ...lifecycle, byOutcome: {} }), undefined);
  });

  it('prices a month of polls at rest, the empty query included', () => {
    const poll = (active: number, reads: number, emptyQueries: number) =>
      ({
        mode: 'orchestrator',
        active,
        history: 0,
        wallMs: 150,
        firestore: { reads, writes: 2 },
        emptyQueries,
      }) as PollMeasurement;
    const rows = restTable([poll(0, 1, 1), poll(1000, 1001, 0)], resources)
      .split('\n')
      .slice(2);
    // 43,200 polls of 2 reads at A = 0; of 1,001 at A = 1,000.
    assert.match(rows[0], /\| 0 +\| 0 +\| 2 +\| 2 +\| 0\.2 /);
    assert.match(rows[1], /\| 1,000 +\| 0 +\| 1,001 +\|/);
    const month =
      dollars(
        scale({ ...none, reads: 1001, writes: 2, invocations: 1, instanceSeconds: 0.2 }, 43_200),
        oneCpu,
      ).total + 0.1;
    assert.ok(rows[1].includes(usd(month)), `${rows[1]} holds ${usd(month)}`);
  });
});
