// Fields that come from customers are bounded before they are stored, so a
// relation can always be written (Firestore refuses a document over 1 MiB)
// and a poll holds little of them in memory. A customer_id up to
// MAX_CUSTOMER_ID_BYTES is kept as it is; a longer one keeps what identifies
// the customer: its first CUSTOMER_ID_PREFIX_CHARS characters and the SHA-256
// of the whole, with its length (docs/ARCHITECTURE.md, "The documents"). The
// same id always gives the same stored value, so equal customers stay equal.
import { createHash } from 'node:crypto';

export const MAX_CUSTOMER_ID_BYTES = 256;
export const CUSTOMER_ID_PREFIX_CHARS = 64;

export function boundCustomerId(customerId: string): string {
  const bytes = Buffer.byteLength(customerId, 'utf8');
  if (bytes <= MAX_CUSTOMER_ID_BYTES) return customerId;
  // By code point, so a character outside the BMP is never cut in half.
  let prefix = '';
  let count = 0;
  for (const char of customerId) {
    if (count++ === CUSTOMER_ID_PREFIX_CHARS) break;
    prefix += char;
  }
  const sha256 = createHash('sha256').update(customerId, 'utf8').digest('hex');
  return `${prefix}… (sha256:${sha256}, ${bytes} bytes)`;
}
