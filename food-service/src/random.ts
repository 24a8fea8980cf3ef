// Seeded randomness, so a run with the same seed and the same inputs makes the
// same decisions. Each concern (controller, customer, faults) draws from its
// own stream, so that, for example, extra RPC traffic cannot change which
// shipments get rejected.

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** True with probability `p` (0 never, 1 always). */
  chance(p: number): boolean;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
}

/** FNV-1a, to turn a stream label into seed bits. */
function hash(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function createRandom(seed: number, stream: string): Random {
  // mulberry32: tiny, fast and good enough for a simulator.
  let state = (seed ^ hash(stream)) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    chance: (p) => next() < p,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
  };
}
