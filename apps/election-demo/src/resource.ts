import { FencingGuard } from '@synod/election';

/** One write as the resource saw it. */
export interface WriteRecord {
  readonly writer: string;
  readonly token: number;
  readonly n: number;
  readonly accepted: boolean;
  /** The highest token admitted before this write. */
  readonly highestBefore: number | null;
}

/**
 * A toy protected resource (think: a file, a row, an external API) that does what every
 * resource guarded by a lease must do: refuse a write whose fencing token is lower than the
 * highest it has already accepted, in the same step as the write itself.
 */
export class ProtectedResource {
  readonly writes: WriteRecord[] = [];
  private readonly guard = new FencingGuard();

  /** Applies (or refuses) one write; returns what happened. */
  write(writer: string, token: number, n: number): WriteRecord {
    const highestBefore = this.guard.highestToken;
    const accepted = this.guard.admit(token);
    const r = { writer, token, n, accepted, highestBefore };
    this.writes.push(r);
    return r;
  }

  /** The highest token ever admitted. */
  get highestToken(): number | null {
    return this.guard.highestToken;
  }
}
