// docs/ARCHITECTURE.md#failures prints the failure table; FAILURE_TABLE in
// food/errors.ts is the one the code uses. This keeps them equal, row by row,
// including the rows grpc-js's own words decide (dispositionOf), checked on
// the details grpc-js gives (food-service/test/grpc-faults.test.ts and
// grpc-codes.test.ts pin those on real connections).
import { status } from '@grpc/grpc-js';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  dispositionOf,
  FAILURE_TABLE,
  noSlotError,
  type CallKind,
  type Disposition,
  type FailureCode,
} from '../src/food/errors';

const KINDS: CallKind[] = ['read', 'create', 'update'];
const WORDS: Record<string, Disposition> = {
  retry: 'retry',
  'retry (bounded)': 'retry-bounded',
  ambiguous: 'ambiguous',
  flag: 'flag',
};

/** The table's rows, by their first cell: the three answers in the order read, create, update. */
function documentedRows(): Map<string, Disposition[]> {
  const doc = fs.readFileSync(
    path.resolve(__dirname, '..', '..', 'docs', 'ARCHITECTURE.md'),
    'utf8',
  );
  const section = doc.slice(
    doc.indexOf('## Failures'),
    doc.indexOf('\n## ', doc.indexOf('## Failures') + 1),
  );
  const rows = new Map<string, Disposition[]>();
  for (const [, name, ...cells] of section.matchAll(
    /^\| ([A-Z_][^|]*?) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/gm,
  )) {
    rows.set(
      name.trim(),
      cells.map((cell) => {
        const answer = WORDS[cell.trim()];
        assert.ok(
          answer,
          `${name}: "${cell.trim()}" is not one of ${Object.keys(WORDS).join(', ')}`,
        );
        return answer;
      }),
    );
  }
  return rows;
}

describe('the failure table', () => {
  const rows = documentedRows();

  it('docs/ARCHITECTURE.md lists every gRPC status with the answers FAILURE_TABLE gives, for reads, creates and updates', () => {
    for (const code of Object.keys(FAILURE_TABLE).map(Number) as FailureCode[]) {
      assert.deepEqual(
        rows.get(status[code]),
        KINDS.map((kind) => FAILURE_TABLE[code][kind]),
        status[code],
      );
    }
    assert.equal(Object.keys(FAILURE_TABLE).length, 16, 'every status but OK');
  });

  it('and the rows grpc-js decides by its words, as dispositionOf answers them', () => {
    const special: Array<[string, status, string]> = [
      [
        'UNAVAILABLE, a certificate failure',
        status.UNAVAILABLE,
        'No connection established. Last error: Error: self-signed certificate in certificate chain. Resolution note: ',
      ],
      [
        'UNAVAILABLE or DEADLINE_EXCEEDED, not sent',
        status.UNAVAILABLE,
        'No connection established. Last error: Error: connect ECONNREFUSED',
      ],
      [
        'UNAVAILABLE or DEADLINE_EXCEEDED, not sent',
        status.DEADLINE_EXCEEDED,
        'Deadline exceeded after 2.001s,Waiting for LB pick',
      ],
      [
        'UNAVAILABLE or DEADLINE_EXCEEDED, not sent',
        status.DEADLINE_EXCEEDED,
        noSlotError(1, 5).details,
      ],
      [
        'RESOURCE_EXHAUSTED, over the receive limit',
        status.RESOURCE_EXHAUSTED,
        'Received message larger than max (4400123 vs 2097152)',
      ],
    ];
    for (const [row, code, details] of special) {
      assert.deepEqual(
        KINDS.map((kind) => dispositionOf(kind, code, details)),
        rows.get(row),
        `${row}: ${details}`,
      );
    }
    const named = new Set([
      ...Object.keys(FAILURE_TABLE).map((code) => status[Number(code)]),
      ...special.map(([row]) => row),
    ]);
    assert.deepEqual(
      [...rows.keys()].filter((row) => !named.has(row)),
      [],
      'no row the code does not have',
    );
  });
});
