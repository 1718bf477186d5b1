/** One line of a child's output. */
export interface OutputLine {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

/**
 * Collects a child's stdout and stderr as lines in a ring buffer: the newest `capacity` lines
 * are kept, so a chatty process cannot exhaust memory. Listeners see every complete line.
 */
export class LineBuffer {
  private readonly ring: OutputLine[] = [];
  private readonly partial = { stdout: '', stderr: '' };
  private readonly listeners = new Set<(l: OutputLine) => void>();

  constructor(private readonly capacity = 2000) {}

  /** Feeds a chunk read from `stream`; complete lines are stored and announced. */
  push(stream: OutputLine['stream'], chunk: Buffer | string): void {
    const text = this.partial[stream] + chunk.toString();
    const parts = text.split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const p of parts) this.add({ stream, text: p.replace(/\r$/, '') });
  }

  /** Stores what is left of unterminated lines (when the process has exited). */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.add({ stream, text: this.partial[stream] });
      this.partial[stream] = '';
    }
  }

  /** The stored lines, oldest first. */
  lines(): readonly OutputLine[] {
    return this.ring;
  }

  /** The last `n` lines as text, one per line. */
  tail(n = 30): string {
    return this.ring
      .slice(-n)
      .map((l) => l.text)
      .join('\n');
  }

  /** Calls `fn` on every future line; returns the function that stops it. */
  onLine(fn: (l: OutputLine) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private add(l: OutputLine): void {
    this.ring.push(l);
    if (this.ring.length > this.capacity) this.ring.shift();
    for (const fn of this.listeners) fn(l);
  }
}
