// What the measured operations cost in dollars, at list prices. Pure: the
// counts come from the bench, the prices from the pages cited here, and each
// function's CPU and memory from the deployed manifest, resolved the way
// firebase-tools resolves it.

/** List prices in USD on the date below, us-central1 (a Tier 1 region), before any free tier. */
export const PRICES = {
  checked: '2026-11-22',
  firestore: {
    source: 'https://cloud.google.com/firestore/pricing',
    edition: 'Standard edition, us-central1 (nam5 and eur3 multi-region cost twice as much)',
    readsPer100k: 0.03,
    writesPer100k: 0.09,
    deletesPer100k: 0.01,
  },
  cloudRun: {
    source: 'https://cloud.google.com/run/pricing',
    edition: 'Cloud Run functions, request-based billing, Tier 1',
    perVcpuSecond: 0.000024,
    perGibSecond: 0.0000025,
    perMillionRequests: 0.4,
    /** Billed time is rounded up to this. */
    roundUpMs: 100,
  },
  cloudTasks: {
    source: 'https://cloud.google.com/tasks/pricing',
    /** An API call (enqueue) or a push delivery attempt, per 32 KiB of payload. */
    perMillionOperations: 0.4,
    chunkBytes: 32 * 1024,
  },
  cloudScheduler: {
    source: 'https://cloud.google.com/scheduler/pricing',
    perJobMonth: 0.1,
  },
} as const;

export const SECONDS_PER_MONTH = 30 * 24 * 3600;

/** What a function is given, as deployed. */
export interface Resources {
  vcpu: number;
  memoryGib: number;
}

/** Billable usage; every field is a count of its own unit. */
export interface Usage {
  reads: number;
  writes: number;
  deletes: number;
  invocations: number;
  /** Instance time billed, in seconds (already rounded up per invocation). */
  instanceSeconds: number;
  taskOperations: number;
}

export interface Dollars {
  firestore: number;
  compute: number;
  requests: number;
  tasks: number;
  total: number;
}

export const none: Usage = {
  reads: 0,
  writes: 0,
  deletes: 0,
  invocations: 0,
  instanceSeconds: 0,
  taskOperations: 0,
};

/** Seconds Cloud Run bills for a run of `ms`: rounded up to the next 100 ms. */
export function billedSeconds(ms: number): number {
  return (Math.ceil(ms / PRICES.cloudRun.roundUpMs) * PRICES.cloudRun.roundUpMs) / 1000;
}

/** Billable Cloud Tasks operations for one task of `bytes`: its enqueue and one delivery, each per 32 KiB started. */
export function taskOperations(bytes: number, deliveries = 1): number {
  return Math.max(1, Math.ceil(bytes / PRICES.cloudTasks.chunkBytes)) * (1 + deliveries);
}

export function dollars(usage: Usage, resources: Resources): Dollars {
  const { firestore: fs, cloudRun: run, cloudTasks: tasks } = PRICES;
  const firestore =
    (usage.reads * fs.readsPer100k +
      usage.writes * fs.writesPer100k +
      usage.deletes * fs.deletesPer100k) /
    100_000;
  const compute =
    usage.instanceSeconds *
    (resources.vcpu * run.perVcpuSecond + resources.memoryGib * run.perGibSecond);
  const requests = (usage.invocations * run.perMillionRequests) / 1_000_000;
  const taskCost = (usage.taskOperations * tasks.perMillionOperations) / 1_000_000;
  return {
    firestore,
    compute,
    requests,
    tasks: taskCost,
    total: firestore + compute + requests + taskCost,
  };
}

export function scale(usage: Usage, factor: number): Usage {
  return {
    reads: usage.reads * factor,
    writes: usage.writes * factor,
    deletes: usage.deletes * factor,
    invocations: usage.invocations * factor,
    instanceSeconds: usage.instanceSeconds * factor,
    taskOperations: usage.taskOperations * factor,
  };
}

/** A function's manifest entry, as firebase-functions writes it (`__endpoint`). */
export interface Endpoint {
  availableMemoryMb?: number | null | object;
  cpu?: number | 'gcf_gen1' | null | object;
}

/**
 * The vCPU and memory a 2nd-gen function gets, resolved as firebase-tools
 * does at deploy (`memoryToGen2Cpu`, `DEFAULT_MEMORY`), passed in so that this
 * module stays pure.
 */
export function resourcesOf(
  endpoint: Endpoint,
  firebaseTools: {
    defaultMemoryMb: number;
    gen1Cpu(memoryMb: number): number;
    gen2Cpu(memoryMb: number): number;
  },
): Resources {
  const memoryMb =
    typeof endpoint.availableMemoryMb === 'number'
      ? endpoint.availableMemoryMb
      : firebaseTools.defaultMemoryMb;
  const cpu =
    typeof endpoint.cpu === 'number'
      ? endpoint.cpu
      : endpoint.cpu === 'gcf_gen1'
        ? firebaseTools.gen1Cpu(memoryMb)
        : firebaseTools.gen2Cpu(memoryMb);
  return { vcpu: cpu, memoryGib: memoryMb / 1024 };
}

/** $1,234.56, $0.0123: enough digits to tell small costs apart. */
export function usd(value: number): string {
  if (value === 0) return '$0';
  if (value >= 100) return `$${Math.round(value).toLocaleString('en-US')}`;
  if (value >= 1) return `$${value.toFixed(2)}`;
  return `$${value.toPrecision(2)}`;
}
