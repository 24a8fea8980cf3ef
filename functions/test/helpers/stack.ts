// The orchestrator under test, assembled from the exported functions: the
// simulator over TLS, the embedded Firestore, advanceRelation fed by a
// document-event source through firebase-functions-test's wrap(), and the
// poller driven through its exported HTTPS clock, pollFoodServiceNow.
import express from 'express';
import functionsTest from 'firebase-functions-test';
import type { DocumentData } from 'firebase-admin/firestore';
import type { Request } from 'firebase-functions/v2/https';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';

import type { FoodService, FoodServiceOptions } from '../../../food-service/src/server';
import { documentDeliverer } from '../../../local/deliver';
import { DocumentEventSource, embeddedFeed, type DeliveryFaults } from '../../../local/document-events';
import { advanceRelation, pollFoodServiceNow } from '../../src';
import { loadConfig } from '../../src/config';
import type { FoodClient } from '../../src/food/client';
import { foodClient } from '../../src/food/connection';
import type { PollRun } from '../../src/orchestration/poller';
import { relationId } from '../../src/orchestration/relation';
import { db } from '../../src/store/db';
import { embeddedFirestore, PROJECT_ID } from '../setup';
import { startTestFoodService, testCerts } from './food-service';

const fft = functionsTest({ projectId: PROJECT_ID });

/** Delivers one event to the exported trigger, as the local stack does (local/deliver.ts). */
export const deliver = documentDeliverer(fft, advanceRelation);

/** The params a deployment sets, here for a fast, small test world. */
export function testEnv(service: FoodService, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    FOOD_SERVICE_ADDRESS: service.address,
    FOOD_SERVICE_CA: fs.readFileSync(testCerts().caCert, 'utf8'),
    FOOD_SERVICE_CLIENT_CERT: 'none',
    FOOD_SERVICE_CLIENT_KEY: 'none',
    POLL_INTERVAL_SECONDS: '1',
    PAGE_SIZE: '25',
    RPC_DEADLINE_MS: '2000',
    MAX_CONCURRENCY: '16',
    CLAIM_LEASE_SECONDS: '180',
    ...overrides,
  };
}

export interface StackOptions {
  service?: Partial<FoodServiceOptions>;
  env?: Record<string, string>;
  /** Deliver every relation write to the trigger (the default), or leave delivery to the test. */
  autoDeliver?: boolean;
  faults?: DeliveryFaults;
}

export interface Stack {
  service: FoodService;
  /** A client of the same service, for looking at it as a test. */
  food: FoodClient;
  events: DocumentEventSource | undefined;
  /** One poll through the exported HTTPS function. */
  pollNow(): Promise<PollRun>;
  /** Polls and lets the triggers settle, `times` times. */
  cycle(times?: number): Promise<void>;
  relation(orderName: string): Promise<DocumentData | undefined>;
  transitions(orderName: string): Promise<DocumentData[]>;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  embeddedFirestore().clear();
  const service = await startTestFoodService(options.service);
  Object.assign(process.env, testEnv(service, options.env));

  const app = express();
  app.post('/', (req, res) => pollFoodServiceNow(req as Request, res));
  const http = await new Promise<import('node:http').Server>((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
  const pollUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;

  let events: DocumentEventSource | undefined;
  if (options.autoDeliver ?? true) {
    events = new DocumentEventSource({
      feed: embeddedFeed(embeddedFirestore()),
      collection: 'relations',
      param: 'orderId',
      deliver,
      faults: options.faults,
      onError: (error) => console.error('trigger delivery failed', error),
    });
    await events.start();
  }

  const pollNow = async (): Promise<PollRun> => {
    const response = await fetch(pollUrl, { method: 'POST' });
    const body = (await response.json()) as PollRun;
    if (response.status !== 200) throw new Error(`pollFoodServiceNow answered ${response.status}: ${JSON.stringify(body)}`);
    return body;
  };

  return {
    service,
    food: foodClient(loadConfig()),
    events,
    pollNow,
    async cycle(times = 1) {
      for (let i = 0; i < times; i++) {
        await pollNow();
        await events?.settle(150);
      }
    },
    async relation(orderName) {
      return (await db().collection('relations').doc(relationId(orderName)).get()).data();
    },
    async transitions(orderName) {
      const snapshot = await db().collection('relations').doc(relationId(orderName)).collection('transitions').get();
      return snapshot.docs.map((d) => ({ id: d.id, ...d.data() }));
    },
    async stop() {
      await events?.stop();
      await new Promise((resolve) => http.close(resolve));
      await service.stop();
    },
  };
}
