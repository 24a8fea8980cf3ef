// Bounds customer_id before it is stored, so a relation always fits Firestore's 1 MiB limit. The
// same id always gives the same value (docs/ARCHITECTURE.md#polling).
import { createHash } from 'node:crypto';

export const MAX_CUSTOMER_ID_BYTES = 256;
export const CUSTOMER_ID_PREFIX_CHARS = 64;

export function boundCustomerId(customerId: string): string {
  const bytes = Buffer.byteLength(customerId, 'utf8');
  if (bytes <= MAX_CUSTOMER_ID_BYTES) return customerId;
  // By code point, so a character outside the BMP is never cut in half.
  const prefix = Array.from(customerId).slice(0, CUSTOMER_ID_PREFIX_CHARS).join('');
  const sha256 = createHash('sha256').update(customerId, 'utf8').digest('hex');
  return `${prefix}… (sha256:${sha256}, ${bytes} bytes)`;
}
