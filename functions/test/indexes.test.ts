// Google's emulator does not enforce indexes, so this checks what it cannot:
// every query the listing and the stuck-order report build is served by a
// composite index declared in firestore.indexes.json (its equality fields,
// then stageSince), and every declared index serves some query.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { PROBLEM_REASONS } from '../src/model/health';
import { ACTIVE_STAGES } from '../src/model/stage';
import { STAGES } from '../src/model/stage';
import { problemFilter } from '../src/operations/health-report';
import { BadRequest, listQueries, type ListRequest } from '../src/operations/status';
import { equalityFields, type RelationFilter } from '../src/store/queries';

interface IndexField {
  fieldPath: string;
  order?: string;
}
interface Index {
  collectionGroup: string;
  queryScope: string;
  fields: IndexField[];
}

const declared = (
  JSON.parse(
    fs.readFileSync(path.resolve(__dirname, '..', '..', 'firestore.indexes.json'), 'utf8'),
  ) as { indexes: Index[] }
).indexes;
const THRESHOLDS = { NEW: 60, PREPARATION: 60, IN_FLIGHT: 60 };
const NOW = new Date('2030-06-01T12:00:00Z');

/** Every listing a caller can ask for (those the API refuses aside), and the report's searches. */
function allFilters(): RelationFilter[] {
  const filters: RelationFilter[] = [];
  const options = <T>(values: T[]): Array<T | undefined> => [undefined, ...values];
  for (const stage of options([...STAGES]))
    for (const flagged of options([true, false]))
      for (const orphans of options([true, false]))
        for (const stuck of options([true, false])) {
          const request: ListRequest = { limit: 10, ...(stage ? { stage } : {}) };
          if (flagged !== undefined) request.flagged = flagged;
          if (orphans !== undefined) request.orphans = orphans;
          if (stuck !== undefined) request.stuck = stuck;
          try {
            filters.push(...listQueries(request, NOW, THRESHOLDS));
          } catch (error) {
            if (!(error instanceof BadRequest)) throw error;
          }
        }
  for (const reason of PROBLEM_REASONS)
    for (const stage of reason === 'stuck' ? ACTIVE_STAGES : [undefined])
      filters.push(problemFilter(reason, stage, NOW, THRESHOLDS));
  return filters;
}

/** The index a query needs: its equality fields (in any order), then stageSince, ascending; none for stageSince alone. */
function serves(index: Index, equality: string[]): boolean {
  const fields = index.fields.map((f) => f.fieldPath);
  return (
    index.collectionGroup === 'relations' &&
    index.queryScope === 'COLLECTION' &&
    index.fields.every((f) => f.order === 'ASCENDING') &&
    fields.at(-1) === 'stageSince' &&
    fields.length === equality.length + 1 &&
    [...fields.slice(0, -1)].sort().join() === [...equality].sort().join()
  );
}

describe('firestore.indexes.json', () => {
  const shapes = new Map<string, string[]>();
  for (const filter of allFilters()) {
    const equality = equalityFields(filter);
    shapes.set([...equality].sort().join('+') || '(none)', equality);
  }

  it('serves every query the listing and the report make, each ordered by stageSince then id', () => {
    assert.ok(
      shapes.size >= 8,
      `every combination of stage, flagged and hasOpenOrphans is built (${[...shapes.keys()].join(', ')})`,
    );
    for (const [name, equality] of shapes) {
      if (equality.length === 0) continue; // stageSince alone: its automatic single-field index
      assert.ok(
        declared.some((index) => serves(index, equality)),
        `no composite index for ${name} then stageSince`,
      );
    }
  });

  it('declares no index that no query uses', () => {
    for (const index of declared) {
      assert.ok(
        [...shapes.values()].some((equality) => equality.length > 0 && serves(index, equality)),
        `unused index ${index.fields.map((f) => f.fieldPath).join(', ')}`,
      );
    }
  });

  it('keeps the fields the queries filter on indexed (only never-queried fields are exempt)', () => {
    const { fieldOverrides } = JSON.parse(
      fs.readFileSync(path.resolve(__dirname, '..', '..', 'firestore.indexes.json'), 'utf8'),
    ) as {
      fieldOverrides: Array<{ fieldPath: string }>;
    };
    for (const field of [
      'stage',
      'flagged',
      'hasOpenOrphans',
      'stageSince',
      'active',
      'watchUntil',
    ]) {
      assert.ok(
        !fieldOverrides.some((o) => o.fieldPath === field),
        `${field} must keep its single-field index`,
      );
    }
  });
});
