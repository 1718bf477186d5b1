/**
 * The check a protected resource makes with fencing tokens: remember the highest token that
 * ever wrote, and refuse any write that carries a lower one. A holder that lost its lease
 * without knowing it (paused, partitioned, its clock wrong) still carries its old token, and
 * once a newer holder has written, every write of the old one is refused.
 *
 * The resource must do this check atomically with the write itself (one transaction, a
 * compare-and-set, a single-threaded server); checking first and writing later reopens the
 * race that the token closes.
 */
export class FencingGuard {
  private highest: number | null = null;

  /** The highest token admitted so far, or null. */
  get highestToken(): number | null {
    return this.highest;
  }

  /**
   * Admits a write carrying `token` when no higher token was ever admitted (equal tokens are
   * the same term writing again), and remembers it. Returns whether the write may proceed.
   */
  admit(token: number): boolean {
    if (!Number.isSafeInteger(token) || token < 0) {
      throw new RangeError(`a fencing token is a non-negative safe integer, got ${token}`);
    }
    if (this.highest !== null && token < this.highest) return false;
    this.highest = token;
    return true;
  }
}
