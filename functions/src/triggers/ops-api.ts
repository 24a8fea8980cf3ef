// The operators' HTTPS API: HTTP parsing here, the work in operations/, who asks in ops-auth.ts.
// Routes: docs/OPERATIONS.md#the-ops-https-api.
import type { Request } from 'firebase-functions/v2/https';
import { onRequest } from 'firebase-functions/v2/https';
import * as logger from 'firebase-functions/logger';
import type { Response } from 'express';

import {
  DEPLOYMENT,
  loadOpsAudiences,
  loadRetentionDays,
  loadStuckThresholds,
  loadWatchSettings,
  OPERATORS,
} from '../config';
import { pollerStatus } from '../poller/heartbeat';
import {
  describeHandled,
  parseHandledFlag,
  RepairRefused,
  resolveOrphan,
  retryRelation,
  type Operator,
} from '../operations/repairs';
import {
  BadRequest,
  listRelations,
  listRequestOf,
  orderReport,
  parseOrderName,
  plainJson,
  type ListRequest,
} from '../operations/status';
import { readHealthSummary } from '../store/health';
import { relationRef } from '../store/relations';
import { logRefused, operatorName, Unauthorized } from './ops-auth';
import { describeError } from '../describe-error';

const LIST_PARAMS = ['stage', 'flagged', 'orphans', 'stuck', 'limit', 'pageToken'] as const;

function booleanParam(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new BadRequest(`${name} must be true or false, got "${value}"`);
}

/** The listing's query string, checked: unknown or repeated parameters are refused, not ignored. */
export function parseListRequest(params: URLSearchParams): ListRequest {
  const values: Partial<Record<(typeof LIST_PARAMS)[number], string>> = {};
  for (const name of new Set(params.keys())) {
    if (!(LIST_PARAMS as readonly string[]).includes(name))
      throw new BadRequest(`unknown parameter "${name}"; known: ${LIST_PARAMS.join(', ')}`);
    const all = params.getAll(name);
    if (all.length > 1) throw new BadRequest(`${name} is given ${all.length} times; give it once`);
    values[name as (typeof LIST_PARAMS)[number]] = all[0];
  }
  return listRequestOf({
    ...values,
    flagged: booleanParam('flagged', values.flagged),
    orphans: booleanParam('orphans', values.orphans),
    stuck: booleanParam('stuck', values.stuck),
  });
}

function text(body: Record<string, unknown>, field: string, what: string): string {
  const value = body[field];
  if (typeof value !== 'string' || !value.trim())
    throw new BadRequest(`"${field}" is required in the JSON body: ${what}`);
  return value.trim();
}

function jsonBody(request: Request): Record<string, unknown> {
  const body: unknown = request.body;
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'object' || Array.isArray(body) || Buffer.isBuffer(body)) {
    throw new BadRequest(
      'the body must be a JSON object, sent with content-type: application/json',
    );
  }
  return body as Record<string, unknown>;
}

function send(response: Response, status: number, body: unknown): void {
  response.status(status).set('cache-control', 'no-store').json(body);
}

async function route(request: Request, response: Response): Promise<void> {
  const url = new URL(request.url, 'http://localhost');
  let parts: string[];
  try {
    parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new BadRequest(`the path ${url.pathname} is not valid percent-encoding`);
  }
  const method = request.method;
  const now = new Date();
  const only = (allowed: string) => {
    if (method === allowed) return true;
    response.set('allow', allowed);
    send(response, 405, { error: `${method} ${url.pathname}: use ${allowed}` });
    return false;
  };

  if (parts.length === 1 && parts[0] === 'health') {
    if (!only('GET')) return;
    // The report's summary (a minute old at most), and the poller judged now from its heartbeat.
    const [summary, poller] = await Promise.all([
      readHealthSummary(),
      pollerStatus(now, loadWatchSettings(), false),
    ]);
    send(response, 200, {
      summary: summary && plainJson(summary),
      poller: plainJson(poller),
      ...(summary ? {} : { note: 'no stuck-order report has run yet' }),
    });
    return;
  }
  if (parts[0] !== 'orders' || parts.length > 3) {
    send(response, 404, {
      error: `no route ${url.pathname}`,
      routes: [
        'GET /orders',
        'GET /orders/<id>',
        'GET /health',
        'POST /orders/<id>/retry',
        'POST /orders/<id>/resolve-orphan',
      ],
    });
    return;
  }
  if (parts.length === 1) {
    if (!only('GET')) return;
    send(
      response,
      200,
      await listRelations(parseListRequest(url.searchParams), now, loadStuckThresholds()),
    );
    return;
  }
  const order = parseOrderName(parts[1]);
  if (parts.length === 2) {
    if (!only('GET')) return;
    if ([...url.searchParams.keys()].length > 0)
      throw new BadRequest('GET /orders/<id> takes no parameters');
    const status = await orderReport(order, now, loadStuckThresholds());
    if (!status)
      send(response, 404, {
        error: `${order} has no relation: the orchestrator has not seen it (or it is not ours)`,
      });
    else send(response, 200, status);
    return;
  }
  if (!only('POST')) return;
  const body = jsonBody(request);
  const caller = { header: (name: string) => request.get(name) };
  switch (parts[2]) {
    case 'retry': {
      const by: Operator = {
        who: await operatorName(caller, body, loadOpsAudiences()),
        why: text(body, 'reason', 'what you checked or fixed'),
      };
      const flag = body.flag;
      if (flag !== undefined && typeof flag !== 'string')
        throw new BadRequest('"flag" must be the flag you handled, as a string: CODE or CODE@AT');
      const handled = flag === undefined ? undefined : parseHandledFlag(flag);
      if (typeof handled === 'string') throw new BadRequest(handled);
      const { approvedAttempt } = await retryRelation(
        relationRef(order),
        by,
        now,
        loadRetentionDays(),
        handled,
      );
      logger.warn('relation retried by a person', {
        order,
        by: by.who,
        reason: by.why,
        approvedAttempt,
      });
      send(response, 200, { order, retried: true, by: by.who, approvedAttempt });
      return;
    }
    case 'resolve-orphan': {
      const which = text(
        body,
        'orphan',
        'the attempt (PREPARATION-2) or the name (kitchenorders/<id>) of the possible orphan',
      );
      const by: Operator = {
        who: await operatorName(caller, body, loadOpsAudiences()),
        why: text(body, 'note', 'what you did about it'),
      };
      const { orphan, open } = await resolveOrphan(
        relationRef(order),
        which,
        by,
        now,
        loadRetentionDays(),
      );
      logger.warn('possible orphan resolved by a person', {
        order,
        by: by.who,
        note: by.why,
        step: orphan.step,
        attempt: orphan.attempt,
      });
      send(response, 200, { order, resolved: plainJson(orphan), openOrphans: open });
      return;
    }
    default:
      send(response, 404, { error: `no repair "${parts[2]}"; repairs: retry, resolve-orphan` });
  }
}

export const ops = onRequest(
  { ...DEPLOYMENT, invoker: OPERATORS, timeoutSeconds: 60, memory: '256MiB' },
  async (request, response) => {
    try {
      await route(request, response);
    } catch (error) {
      if (error instanceof Unauthorized) {
        logRefused(error, request);
        send(response, 401, { error: `unauthorized: ${error.message}` });
      } else if (error instanceof BadRequest) send(response, 400, { error: error.message });
      else if (error instanceof RepairRefused)
        send(response, 409, {
          error: `refused: ${error.message}`,
          ...(error.raisedAgain ? { raisedAgain: describeHandled(error.raisedAgain) } : {}),
        });
      else {
        logger.error('ops API failed', {
          method: request.method,
          url: request.url,
          error: describeError(error),
        });
        send(response, 500, { error: describeError(error) });
      }
    }
  },
);
