// What must hold when a local run ends, checked from the food service's
// orders and the relation documents: every order finished or legitimately in
// progress, no order with a second kitchen order or shipment that nobody
// noticed, and nothing flagged unless faults were injected on purpose.
import type { PlainData } from './board/feed';

const FINAL = new Set(['DELIVERED', 'REJECTED', 'CANCELLED']);

export interface RunFacts {
  /** Every order the food service knows: name → status. */
  orders: Map<string, string>;
  /** Every relation document. */
  relations: PlainData[];
  /** What the simulator created. */
  created: { kitchenOrders: number; shipments: number };
  /** Food-service faults were injected, so flags are expected. */
  foodFaults: boolean;
  /** Relations an earlier run left (a restart after a crash, say): their notes and flags predate this run. */
  resumedRelations?: number;
  /** Trigger deliveries that threw: the platform would have dropped them (retry is off). */
  failedDeliveries: number;
  /** The run ended with orders still in flight after the drain. */
  drainTimedOut: boolean;
}

/** What the checks read of one relation document. */
function relationFacts(data: PlainData) {
  const error = data.error as { transient?: unknown } | null | undefined;
  const orphans = Array.isArray(data.possibleOrphans)
    ? (data.possibleOrphans as Array<{ step?: unknown }>)
    : [];
  return {
    id: String(data.order),
    stage: data.stage,
    active: data.active === true,
    flagged: Boolean(error && error.transient !== true),
    transientError: Boolean(error && error.transient === true),
    kitchenOrder: typeof data.kitchenOrder === 'string',
    shipment: typeof data.shipment === 'string',
    orphanNotes: {
      kitchen: orphans.filter((o) => o.step === 'createKitchenOrder').length,
      shipment: orphans.filter((o) => o.step === 'createShipment').length,
    },
  };
}

export type InvariantReport = ReturnType<typeof checkInvariants>;

export function checkInvariants(facts: RunFacts) {
  const violations: string[] = [];
  const notes: string[] = [];
  const relations = new Map(
    facts.relations.map((data) => [String(data.order), relationFacts(data)]),
  );
  let finished = 0;
  let inProgress = 0;
  const waiting: string[] = [];

  for (const [order, status] of facts.orders) {
    const relation = relations.get(order);
    if (FINAL.has(status)) {
      finished++;
      if (relation && !relation.active && relation.stage !== status) {
        violations.push(
          `${order} is ${status} on the food service but its relation ended ${String(relation.stage)}`,
        );
      } else if (relation?.active) {
        notes.push(
          `${order} is ${status}; its relation (stage ${String(relation.stage)}) has not caught up yet`,
        );
        inProgress++;
        finished--;
      }
    } else {
      inProgress++;
      if (!relation && status !== 'NEW')
        violations.push(`${order} is ${status} but has no relation: nobody is driving it`);
      if (relation?.active && relation.flagged) waiting.push(order);
    }
  }
  if (waiting.length > 0)
    notes.push(
      `${waiting.length} order(s) wait for a person, their relations flagged: ${sample(waiting)}`,
    );

  const all = [...relations.values()];
  const flagged = all.filter((r) => r.flagged);
  const withOrphans = all.filter((r) => r.orphanNotes.kitchen + r.orphanNotes.shipment > 0);
  const retrying = all.filter((r) => r.active && r.transientError);
  if (retrying.length > 0)
    notes.push(`${retrying.length} relation(s) are between retries of a transient failure`);
  for (const [what, list] of [
    ['flagged with an error', flagged],
    ['noted as possible orphans', withOrphans],
  ] as const) {
    if (list.length === 0) continue;
    const message = `${list.length} relation(s) ${what}: ${sample(list.map((r) => r.id))}`;
    if (facts.foodFaults) notes.push(`${message} (faults were injected)`);
    else if (facts.resumedRelations)
      notes.push(
        `${message} (the run resumed ${facts.resumedRelations} relation(s) an earlier run left)`,
      );
    else violations.push(message);
  }

  if (facts.failedDeliveries > 0) {
    violations.push(`${facts.failedDeliveries} trigger invocation(s) threw; see the function logs`);
  }
  if (facts.drainTimedOut) {
    violations.push(
      `${inProgress} order(s) were still in flight when the drain timed out: something is stuck`,
    );
  }

  // What this food service created is compared with the relations of its own orders: relations an earlier run
  // left (--import) name orders of a food service that is gone.
  const known = all.filter((r) => facts.orders.has(r.id));
  const strangers = all.length - known.length;
  if (strangers > 0) {
    const message = `${strangers} relation(s) name orders the food service does not know`;
    if (facts.resumedRelations) notes.push(`${message} (an earlier run's, resumed)`);
    else violations.push(message);
  }
  const recorded = {
    kitchen: known.filter((r) => r.kitchenOrder).length,
    shipment: known.filter((r) => r.shipment).length,
  };
  const noted = known.reduce(
    (sum, r) => ({
      kitchen: sum.kitchen + r.orphanNotes.kitchen,
      shipment: sum.shipment + r.orphanNotes.shipment,
    }),
    { kitchen: 0, shipment: 0 },
  );
  const check = (what: string, created: number, known: number, notedExtra: number) => {
    if (created < known)
      violations.push(
        `${known} ${what}s are recorded but the food service created only ${created}`,
      );
    if (created > known + notedExtra) {
      violations.push(
        `the food service created ${created} ${what}s, ${created - known - notedExtra} more than recorded or noted: a silent duplicate`,
      );
    }
  };
  check('kitchen order', facts.created.kitchenOrders, recorded.kitchen, noted.kitchen);
  check('shipment', facts.created.shipments, recorded.shipment, noted.shipment);

  return { held: violations.length === 0, finished, inProgress, violations, notes };
}

/** The first five, and an ellipsis for the rest. */
const sample = (ids: string[]) => `${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`;
