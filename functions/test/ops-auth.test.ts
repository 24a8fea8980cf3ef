// The operator is who a verified token says: the ops HTTPS function, run as
// the platform runs it, on Google's emulator, with ID tokens signed by an RSA
// key the test makes and trusts in place of Google's certificates. A token
// signed by another key, unsigned, for another audience or issuer, expired,
// or without a verified e-mail is refused with 401 and logged, and changes
// nothing; so is the operators' account's own token (OPS_INVOKER, the one
// Cloud Run admits, sent in X-Serverless-Authorization): it names no person.
// Without a token, the body's "by" counts only in the emulators.
import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';

import { GCLOUD_CLIENT_ID, loadOpsAudiences } from '../src/config';
import { operatorName, Unauthorized } from '../src/triggers/ops-auth';
import { idToken, OPS_AUDIENCE, signingKey, trustKeys } from './helpers/id-tokens';
import { api, logEntries, logMark } from './helpers/ops';
import { startStack, TEST_OPS_INVOKER, type Stack } from './helpers/stack';

const trusted = signingKey('google-key-1');
// Another key, presented under the trusted key's id: what a forger has.
const forger = signingKey('google-key-1');

describe('who asks the ops API', function () {
  this.timeout(60_000);
  let stack: Stack;
  let untrust: () => void;
  before(() => {
    untrust = trustKeys(trusted);
  });
  after(() => untrust());
  afterEach(async () => stack?.stop());

  /** Flagged orders, ready for a person's retry. */
  async function flaggedOrders(count: number): Promise<string[]> {
    const orders = stack.service.placeOrders(count);
    stack.service.failNext('CreateKitchenOrder', grpc.status.INVALID_ARGUMENT, count);
    await stack.cycle();
    for (const order of orders) assert.equal((await stack.relation(order))?.flagged, true, order);
    return orders;
  }
  const retry = (
    order: string,
    headers: Record<string, string>,
    body: Record<string, unknown> = {},
  ) =>
    api(stack.httpUrl, `/${order}/retry`, {
      method: 'POST',
      body: { reason: 'the kitchen fixed its menu', ...body },
      headers,
    });

  it('takes the e-mail of a token signed by a trusted key, for its own URL or gcloud, and records it', async () => {
    stack = await startStack({ service: { rejectRate: 0 } });
    const [order, other] = await flaggedOrders(2);
    const retried = await retry(
      order,
      { authorization: `Bearer ${idToken(trusted)}` },
      { by: 'mallory' },
    );
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.body.by, 'carol@example.com', 'the verified token, not the body');
    const view = await api(stack.httpUrl, `/${order}`);
    const entry = (view.body.history as Array<Record<string, unknown>>).find((h) =>
      String(h.id).startsWith('retry-'),
    );
    assert.equal(entry?.by, 'carol@example.com');

    // What `gcloud auth print-identity-token` gives a user: gcloud's own client as the audience.
    const gcloud = await retry(other, {
      authorization: `Bearer ${idToken(trusted, { aud: GCLOUD_CLIENT_ID, email: 'dave@example.com' })}`,
    });
    assert.equal(gcloud.status, 200, JSON.stringify(gcloud.body));
    assert.equal(gcloud.body.by, 'dave@example.com');
  });

  it('refuses with 401, and logs, a forged, unsigned, foreign, expired or unverified token; nothing changes', async () => {
    stack = await startStack({ service: { rejectRate: 0 } });
    const [order] = await flaggedOrders(1);
    const now = Math.floor(Date.now() / 1000);
    const unsigned = idToken(trusted, { email: 'ceo@example.com' })
      .split('.')
      .slice(0, 2)
      .join('.');
    const cases: Array<[string, string, RegExp]> = [
      [
        'signed by another key',
        idToken(forger, { email: 'ceo@example.com' }),
        /Invalid token signature/,
      ],
      ['unsigned (no signature)', `${unsigned}.`, /Invalid token signature/],
      [
        'unsigned (alg none)',
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${unsigned.split('.')[1]}.`,
        /No pem found/,
      ],
      [
        'a key nobody trusts',
        idToken(signingKey('unknown-key'), { email: 'ceo@example.com' }),
        /No pem found for envelope/,
      ],
      [
        'for another audience',
        idToken(trusted, { aud: 'https://elsewhere.example.com' }),
        /Wrong recipient/,
      ],
      [
        'from another issuer',
        idToken(trusted, { iss: 'https://evil.example.com' }),
        /Invalid issuer/,
      ],
      ['expired', idToken(trusted, { iat: now - 7200, exp: now - 3600 }), /Token used too late/],
      ['an e-mail not verified', idToken(trusted, { email_verified: false }), /no verified e-mail/],
      ['not a JWT', 'hello', /Wrong number of segments/],
    ];
    for (const [what, token, reason] of cases) {
      const mark = logMark();
      const refused = await retry(
        order,
        { authorization: `Bearer ${token}` },
        { by: 'ceo@example.com' },
      );
      assert.equal(refused.status, 401, `${what}: ${JSON.stringify(refused.body)}`);
      assert.match(String(refused.body.error), /^unauthorized: /, what);
      const logged = logEntries(mark).filter(
        (e) => e.message === 'ops API: caller refused, identity not verified',
      );
      assert.equal(logged.length, 1, what);
      assert.equal(logged[0].severity, 'WARNING');
      assert.match(String(logged[0].reason), reason, what);
      assert.ok(
        !JSON.stringify(logged[0]).includes(token.split('.')[2] || token),
        `${what}: the token itself is not logged`,
      );
    }
    const mark = logMark();
    assert.equal(
      (
        await retry(order, {
          authorization: `Bearer ${idToken(forger, { email: 'ceo@example.com' })}`,
        })
      ).status,
      401,
    );
    assert.equal(
      logEntries(mark)[0]?.claimed,
      'ceo@example.com',
      'the log says whom a refused token claimed to be',
    );
    assert.equal((await retry(order, { authorization: 'Basic Y2VvOmNlbw==' })).status, 401);

    const view = await api(stack.httpUrl, `/${order}`);
    assert.equal(
      (view.body.relation as { flagged: boolean }).flagged,
      true,
      'no refused call changed anything',
    );
    assert.ok(!(view.body.history as Array<{ id: string }>).some((h) => h.id.startsWith('retry-')));
  });

  it("takes the caller's own token in Authorization, beside the operators' account's in X-Serverless-Authorization, and never that account as the operator", async () => {
    stack = await startStack({ service: { rejectRate: 0 } });
    const [order] = await flaggedOrders(1);
    // What Cloud Run admits: OPS_INVOKER's token, minted by impersonation for the function's URL.
    const invoker = `Bearer ${idToken(trusted, { email: TEST_OPS_INVOKER })}`;

    const forged = await retry(order, {
      'x-serverless-authorization': invoker,
      authorization: `Bearer ${idToken(forger, { aud: GCLOUD_CLIENT_ID, email: 'ceo@example.com' })}`,
    });
    assert.equal(
      forged.status,
      401,
      `a forged token beside the invoker's: ${JSON.stringify(forged.body)}`,
    );

    const asInvoker: Array<Record<string, string>> = [
      { authorization: invoker },
      { 'x-serverless-authorization': invoker, authorization: invoker },
    ];
    for (const headers of asInvoker) {
      const mark = logMark();
      const alone = await retry(order, headers, { by: 'mallory' });
      assert.equal(
        alone.status,
        401,
        `the operators' account as the operator: ${JSON.stringify(alone.body)}`,
      );
      assert.match(String(alone.body.error), /names no person/);
      assert.equal(logEntries(mark)[0]?.claimed, TEST_OPS_INVOKER);
    }
    await assert.rejects(
      operatorName(
        { header: (name) => (name === 'x-serverless-authorization' ? invoker : undefined) },
        {},
        [OPS_AUDIENCE],
        {
          K_SERVICE: 'ops',
        },
      ),
      /no ID token of yours/,
      "deployed, the invoker's token alone (which the function does not read) is no operator",
    );

    const retried = await retry(order, {
      'x-serverless-authorization': invoker,
      authorization: `Bearer ${idToken(trusted, { aud: GCLOUD_CLIENT_ID, email: 'dave@example.com' })}`,
    });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(
      retried.body.by,
      'dave@example.com',
      "the caller's own verified token names the operator",
    );
    const view = await api(stack.httpUrl, `/${order}`);
    const entry = (view.body.history as Array<Record<string, unknown>>).find((h) =>
      String(h.id).startsWith('retry-'),
    );
    assert.equal(entry?.by, 'dave@example.com');
  });

  it("takes the body's by without a token only in the emulators", async () => {
    const caller = { header: () => undefined };
    assert.equal(
      await operatorName(caller, { by: 'alice' }, [OPS_AUDIENCE], { FUNCTIONS_EMULATOR: 'true' }),
      'alice',
    );
    assert.equal(
      await operatorName(caller, { by: 'alice' }, [OPS_AUDIENCE], {
        FIRESTORE_EMULATOR_HOST: '127.0.0.1:8080',
      }),
      'alice',
    );
    await assert.rejects(
      operatorName(caller, { by: 'alice' }, [OPS_AUDIENCE], { K_SERVICE: 'ops' }),
      (error: unknown) => {
        assert.ok(error instanceof Unauthorized);
        assert.match(error.message, /no ID token/);
        return true;
      },
    );
  });

  it('accepts OPS_TOKEN_AUDIENCES and the function URL of its region and project', () => {
    assert.deepEqual(loadOpsAudiences({ GCLOUD_PROJECT: 'p1', FUNCTIONS_REGION: 'europe-west1' }), [
      GCLOUD_CLIENT_ID,
      'https://europe-west1-p1.cloudfunctions.net/ops',
    ]);
    assert.deepEqual(
      loadOpsAudiences({
        OPS_TOKEN_AUDIENCES: 'https://ops-abc-ew.a.run.app, x',
        GCLOUD_PROJECT: 'p1',
      }),
      ['https://ops-abc-ew.a.run.app', 'x', 'https://us-central1-p1.cloudfunctions.net/ops'],
    );
    assert.throws(
      () => loadOpsAudiences({ OPS_TOKEN_AUDIENCES: 'a,,b' }),
      /OPS_TOKEN_AUDIENCES must be audiences, comma-separated/,
    );
  });
});
