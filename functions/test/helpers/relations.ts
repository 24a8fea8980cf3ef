// Relation values for the pure tests: a fresh relation with overrides.
import type { Relation, StepError } from '../../src/model/relation';

export const ORDER_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
export const ORDER = `orders/${ORDER_ID}`;
export const KITCHEN_ORDER = 'kitchenorders/7c9e6679-7425-40de-944b-e07fc1f90ae7';
export const SHIPMENT = 'shipments/6ba7b810-9dad-11d1-80b4-00c04fd430c8';

export function relation(overrides: Partial<Relation> = {}): Relation {
  return {
    id: ORDER_ID,
    order: ORDER,
    stage: 'NEW',
    orderStatus: 'NEW',
    kitchenOrder: null,
    kitchenOrderStatus: null,
    shipment: null,
    shipmentStatus: null,
    error: null,
    observationError: null,
    possibleOrphans: [],
    knownUpdateTime: null,
    vouchedUpdateTime: null,
    vouchedFrom: null,
    orderUpdateTime: null,
    lateUpdates: [],
    finishWindow: null,
    ...overrides,
  };
}

/** A transient UNAVAILABLE of the first step, `at` the given time. */
export function stepError(at: Date, overrides: Partial<StepError> = {}): StepError {
  return {
    step: 'createKitchenOrder',
    code: 'UNAVAILABLE',
    message: 'the food service is unavailable',
    transient: true,
    failures: 1,
    at,
    retryAt: null,
    ...overrides,
  };
}
