// isOverwritten: when an order's update_time tells that someone wrote it
// under us, or that an update of ours landed later than any send window
// allows (held by the server, over what may have been a customer's cancel).
import { strict as assert } from 'node:assert';

import { isOverwritten, replacesError } from '../src/model/overwrite';
import type { LateUpdate } from '../src/model/relation';
import type { Stage } from '../src/model/stage';

const T0 = Date.parse('2030-01-01T10:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const window = (status: LateUpdate['status'], sentS: number, heldAfterS: number): LateUpdate => ({
  status,
  sentAt: new Date(T0 + sentS * 1000),
  heldAfter: new Date(T0 + heldAfterS * 1000),
  seenUpdateTime: null,
});
const relation = (
  stage: Stage,
  knownS: number | null,
  lateUpdates: LateUpdate[] = [],
  vouchedS: number | null = null,
  vouchedFromS: number | null = null,
) => ({
  stage,
  knownUpdateTime: knownS === null ? null : at(knownS),
  vouchedUpdateTime: vouchedS === null ? null : at(vouchedS),
  vouchedFrom: vouchedFromS === null ? null : at(vouchedFromS),
  lateUpdates,
});

describe('isOverwritten', () => {
  it('our next status, landed after the only window it could have been sent in: held, for a step that read every window', () => {
    const held = relation('NEW', 0, [window('PREPARATION', 10, 20)]);
    assert.equal(
      isOverwritten(held, { status: 'PREPARATION', updateTime: at(30) }, 'every window'),
      true,
    );
  });

  it('the same, seen by the poller: left to the step it wakes, which reads the windows a dead sender left', () => {
    const held = relation('NEW', 0, [window('PREPARATION', 10, 20)]);
    assert.equal(
      isOverwritten(held, { status: 'PREPARATION', updateTime: at(30) }, 'recorded'),
      false,
    );
  });

  it('a landing within the latest window is not told from a normal one; after every window it is', () => {
    const two = relation('NEW', 0, [window('PREPARATION', 10, 20), window('PREPARATION', 60, 80)]);
    assert.equal(
      isOverwritten(two, { status: 'PREPARATION', updateTime: at(70) }, 'every window'),
      false,
    );
    assert.equal(
      isOverwritten(two, { status: 'PREPARATION', updateTime: at(90) }, 'every window'),
      true,
    );
  });

  it('a later window covers only from when it opened: a landing between the two windows is held', () => {
    const two = relation('NEW', 0, [window('PREPARATION', 10, 20), window('PREPARATION', 60, 80)]);
    assert.equal(
      isOverwritten(two, { status: 'PREPARATION', updateTime: at(40) }, 'every window'),
      true,
      'after the first window, before the second opened (less the clock skew)',
    );
    assert.equal(
      isOverwritten(two, { status: 'PREPARATION', updateTime: at(57) }, 'every window'),
      false,
      'within the clock skew of the second window opening: it may be its send',
    );
  });

  it("a window covers only what landed after its sender's look: a landing that look saw was not its send (seed 26305)", () => {
    const looked = { ...window('REJECTED', 60, 80), seenUpdateTime: at(58.5) };
    const two = relation('IN_FLIGHT', 0, [window('REJECTED', 10, 20), looked]);
    const seen = (s: number) =>
      isOverwritten(two, { status: 'REJECTED', updateTime: at(s) }, 'every window');
    assert.equal(
      seen(58.5),
      true,
      'within the clock skew of the window opening, but seen by its look',
    );
    assert.equal(seen(58.6), false, 'after its look: it may be its send');
  });

  it('the order as we last knew it was judged then: the same update_time again is not news', () => {
    const known = relation('PREPARATION', 30, [window('PREPARATION', 10, 20)]);
    assert.equal(
      isOverwritten(known, { status: 'PREPARATION', updateTime: at(30) }, 'every window'),
      false,
    );
    assert.equal(
      isOverwritten(known, { status: 'NEW', updateTime: at(25) }, 'recorded'),
      false,
      'older than what we knew',
    );
  });

  it('a write of the stage we are at, after we knew it, is not our next step: flagged by anyone who sees it', () => {
    const rewritten = relation('PREPARATION', 30);
    assert.equal(
      isOverwritten(rewritten, { status: 'PREPARATION', updateTime: at(40) }, 'recorded'),
      true,
    );
    assert.equal(
      isOverwritten(rewritten, { status: 'CANCELLED', updateTime: at(40) }, 'recorded'),
      false,
      "a customer's cancel is theirs to make",
    );
    assert.equal(
      isOverwritten(rewritten, { status: 'IN_FLIGHT', updateTime: at(40) }, 'recorded'),
      false,
      'our own next step',
    );
  });

  it('an ended order written again, or reading otherwise, is overwritten whatever the windows', () => {
    assert.equal(
      isOverwritten(
        relation('DELIVERED', 30),
        { status: 'DELIVERED', updateTime: at(40) },
        'recorded',
      ),
      true,
    );
    assert.equal(
      isOverwritten(
        relation('CANCELLED', 30),
        { status: 'IN_FLIGHT', updateTime: at(31) },
        'recorded',
      ),
      true,
    );
    // The write we knew, or one before it, is old news: a listing made before we learned of the end.
    for (const status of ['CANCELLED', 'IN_FLIGHT'] as const)
      assert.equal(
        isOverwritten(relation('CANCELLED', 30), { status, updateTime: at(30) }, 'recorded'),
        false,
      );
  });

  it("after a person's retry vouched for an ended order: their fix is not news, anything else after the overwrite is", () => {
    // The overwrite was seen at 30; the person set the order back and retried at 50.
    const vouched = relation('CANCELLED', 30, [], 50);
    const seen = (status: 'CANCELLED' | 'PREPARATION', s: number) =>
      isOverwritten(vouched, { status, updateTime: at(s) }, 'recorded');
    assert.equal(seen('PREPARATION', 30), false, 'the overwrite it cleared');
    assert.equal(seen('CANCELLED', 40), false, 'the fix');
    assert.equal(
      seen('PREPARATION', 45),
      true,
      'a held update of ours between the fix and the retry',
    );
    assert.equal(seen('CANCELLED', 60), true, 'written after the retry, even as it ended');
  });

  it('a retry vouches only for writes from when no update of ours could land: one before is judged', () => {
    // Ended DELIVERED; overwritten at 30; updates of ours could land until 40; the retry ran at 50.
    const vouched = relation('DELIVERED', 30, [], 50, 40);
    const seen = (s: number) =>
      isOverwritten(vouched, { status: 'DELIVERED', updateTime: at(s) }, 'recorded');
    assert.equal(seen(35), true, 'a held DELIVERED of ours, maybe over a cancel');
    assert.equal(seen(40), false, 'the fix, once no update of ours could land');
    assert.equal(seen(45), false, 'the fix');
    assert.equal(seen(55), true, 'written after the retry');
  });
});

describe('replacesError', () => {
  const flag = (code: string) => ({ code, transient: false });
  const retry = { code: 'UNAVAILABLE', transient: true };

  it('a retry takes the place of a retry or of nothing, never of a flag', () => {
    assert.equal(replacesError(null, retry), true);
    assert.equal(replacesError(retry, retry), true);
    assert.equal(replacesError(flag('INCONSISTENT'), retry), false);
  });

  it('an overwrite flag is replaced by an overwrite alone: not by a fault count run out, nor another flag', () => {
    assert.equal(replacesError(flag('INCONSISTENT'), flag('CANCEL_OVERWRITTEN')), true);
    assert.equal(replacesError(flag('CANCEL_OVERWRITTEN'), flag('ABORTED')), false);
    assert.equal(replacesError(flag('CANCEL_OVERWRITTEN'), flag('INCONSISTENT')), false);
    assert.equal(replacesError(flag('CANCEL_OVERWRITTEN'), flag('ORDER_OVERWRITTEN')), true);
  });
});
