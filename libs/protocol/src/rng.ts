/**
 * Randomness is an input: cores receive a seeded generator, so a run is reproducible from its
 * seed. Production passes a generator seeded from the OS; the simulator passes its own.
 */
export interface Rng {
  /** A uniformly distributed integer in `[0, n)`; `n` is a positive safe integer. */
  nextInt(n: number): number;
}

/**
 * sfc32 (Small Fast Counting), a 128-bit-state PRNG that passes PractRand; deterministic across
 * platforms because it uses only 32-bit integer arithmetic.
 */
export class Sfc32 implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // Spread the seed with splitmix32 so that nearby seeds give unrelated streams.
    let s = seed >>> 0;
    const mix = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    for (let i = 0; i < 12; i++) this.next32();
  }

  /** The next 32-bit unsigned integer. */
  next32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  nextInt(n: number): number {
    if (!(n > 0) || !Number.isSafeInteger(n)) throw new RangeError(`nextInt bound: ${n}`);
    return Math.floor((this.next32() / 4294967296) * n);
  }

  /** A float in `[0, 1)`. */
  nextFloat(): number {
    return this.next32() / 4294967296;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.nextFloat() < p;
  }
}
