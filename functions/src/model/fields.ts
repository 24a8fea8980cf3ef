// The building blocks of every stored document's schema. Documents are declared once, with
// zod, and their types derived from the schema; a problem names the field and the value found.
import { z } from 'zod';

import { isOrderName, isResourceName, nameFormat, type ResourceKind } from './names';
import {
  isKitchenOrderStatus,
  isOrderStatus,
  isShipmentStatus,
  type KitchenOrderStatusName,
  type OrderStatusName,
  type ShipmentStatusName,
} from './statuses';
import { isUpdateTime } from './update-time';

/** A value as a person reads it in a problem: strings quoted, the rest as JSON. */
export function describeValue(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : (JSON.stringify(value) ?? String(value));
}

/** A Date (or a Firestore Timestamp, as a raw client reads it) as a Date; anything else is null. */
export function toDate(value: unknown): Date | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value;
  if (isTimestamp(value)) return value.toDate();
  return null;
}

function isTimestamp(value: unknown): value is { toDate(): Date } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toDate?: unknown }).toDate === 'function'
  );
}

export const expected = (what: string) => ({
  error: (issue: { input?: unknown }) => `expected ${what}, got ${describeValue(issue.input)}`,
});

/** A stored time: a Date, or the Timestamp Firestore hands back. */
export const timestamp = z
  .custom<Date>((value) => toDate(value) !== null, expected('a timestamp'))
  .overwrite((value) => toDate(value) as Date);

/** The food service's update_time, kept as its RFC 3339 text (model/update-time.ts). */
export const updateTime = z.custom<string>(isUpdateTime, expected('an RFC 3339 time'));

const status = <T extends string>(check: (value: unknown) => value is T) =>
  z.custom<T>(check, {
    error: (issue: { input?: unknown }) => `unknown status ${describeValue(issue.input)}`,
  });
export const orderStatus = status<OrderStatusName>(isOrderStatus);
export const kitchenOrderStatus = status<KitchenOrderStatusName>(isKitchenOrderStatus);
export const shipmentStatus = status<ShipmentStatusName>(isShipmentStatus);

/** A resource's name, `orders/<id>` say; `orNull` for one that may not exist yet. */
export const resourceName = (kind: ResourceKind, optional = false) =>
  z.custom<string>(
    (value) => isResourceName(kind, value),
    expected(`${optional ? 'null or ' : ''}"${nameFormat(kind)}"`),
  );

export const orderIdText = z
  .string(expected('an order id'))
  .refine((id) => isOrderName(`orders/${id}`), expected('an order id'));

export const text = (what: string) => z.string(expected(what));

/** Absent and null read alike, as null. */
export const orNull = <T extends z.ZodType>(schema: T) => schema.nullable().default(null);

/** Absent and null read alike, as an empty list. */
export const listOf = <T extends z.ZodType>(item: T, what: string) =>
  z
    .array(item, expected(`a list of ${what}`))
    .nullish()
    .transform((list) => list ?? []);

/** Text as stored, for a person: whatever older versions wrote reads as text. */
export const shown = z
  .unknown()
  .optional()
  .transform((value) => String(value ?? ''));

export function problemsOf(error: z.ZodError): string[] {
  return error.issues.map((issue) =>
    issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message,
  );
}

/** Reads a document whatever a hand edit did: an unreadable field takes its `fallback` value. */
export function parseOr<T extends z.ZodObject>(
  schema: T,
  data: Record<string, unknown>,
  fallback: Partial<z.input<T>>,
): { value: z.output<T>; problems: string[] } {
  const parsed = schema.safeParse(data);
  if (parsed.success) return { value: parsed.data, problems: [] };
  const bad = new Set(parsed.error.issues.map((issue) => issue.path[0]));
  const readable = Object.entries(data).filter(([field]) => !bad.has(field));
  return {
    value: schema.parse({ ...fallback, ...Object.fromEntries(readable) }),
    problems: problemsOf(parsed.error),
  };
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: string[] };

export function parseWith<T extends z.ZodType>(schema: T, value: unknown): Parsed<z.output<T>> {
  const result = schema.safeParse(value);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, problems: problemsOf(result.error) };
}
