/**
 * Runs `work` over `items` with at most `limit` in flight. Each item's
 * failure is the callback's to handle: one bad item must not stop the rest.
 */
export async function forEachLimit<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
