// A sorted set of creation sequence numbers. ListOrders with a status filter
// pages through one of these, so a page costs O(log n + page size) however
// many finished orders have piled up in other statuses.

export class SeqIndex {
  private readonly seqs: number[] = [];

  get size(): number {
    return this.seqs.length;
  }

  add(seq: number): void {
    // New orders and recent moves land at the end, so check there first.
    const last = this.seqs[this.seqs.length - 1];
    if (last === undefined || seq > last) {
      this.seqs.push(seq);
      return;
    }
    const at = this.firstAbove(seq - 1);
    if (this.seqs[at] !== seq) this.seqs.splice(at, 0, seq);
  }

  delete(seq: number): void {
    const at = this.firstAbove(seq - 1);
    if (this.seqs[at] === seq) this.seqs.splice(at, 1);
  }

  /** Up to `limit` sequence numbers greater than `after`, and whether more follow them. */
  page(after: number, limit: number): { seqs: number[]; more: boolean } {
    const start = this.firstAbove(after);
    const end = Math.min(start + limit, this.seqs.length);
    return { seqs: this.seqs.slice(start, end), more: end < this.seqs.length };
  }

  /** Index of the first element greater than `value` (binary search). */
  private firstAbove(value: number): number {
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid] <= value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
