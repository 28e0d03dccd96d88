/** How many looks at the counter the poll takes between readings of the clock (~10 ns a look). */
const CLOCK_EVERY = 64;

/** The most batches skipped after a run of misses. */
export const MAX_SKIPPED = 64;

/**
 * The largest batch whose reply the host polls for: a few operations, which a shard answers within
 * microseconds. A larger batch is not
 * one caller waiting on one operation, and its reply may take longer than the window.
 */
export const REPLY_SPIN_MAX_OPS = 4;

/**
 * Keeps the host's thread awake for the reply to a small batch, for a bounded while (`replySpinUs`).
 *
 * On a virtual machine the costly part of a one-operation round trip is not the work or the message but
 * waking a processor that has gone idle: a vCPU halts soon after its thread sleeps, and both posting the
 * reply and waking from the halt then cost more than the operation (docs/performance.md). The shard's own
 * idle spin (`shard/idle-spin.ts`) covers the other direction.
 *
 * The poll runs in a `setImmediate` callback, so the host first handles whatever else is ready (timers,
 * I/O, earlier immediates), and it ends as soon as the shard's reply is posted: the worker bumps a shared
 * counter once piscina has posted it, and the host's next poll of its event loop finds the message
 * without sleeping. It never lasts longer than the window. A poll that ends by the window (the shard was
 * busy: a sweep, a large batch) is followed by fewer polls, doubling the number of batches skipped after
 * each miss up to `MAX_SKIPPED`, so a slow shard costs the host little; a caught reply resets that.
 */
export class ReplySpin {
  /** Replies that came while polling. */
  caught = 0;
  /** Polls that reached the window without a reply. */
  missed = 0;
  private readonly counter: Int32Array;
  private scheduled = false;
  private seen = 0;
  private skip = 0;
  private skipped = 0;
  private readonly poll = (): void => {
    this.scheduled = false;
    const until = this.now() + this.windowMs;
    // The clock is read once every CLOCK_EVERY looks (under a microsecond): each reading allocates, and
    // reading it at every look made the host collect garbage often at one get in flight.
    for (let looks = 1; Atomics.load(this.counter, 0) === this.seen; looks++) {
      if (looks % CLOCK_EVERY === 0 && this.now() >= until) {
        this.missed++;
        this.skip = Math.min(MAX_SKIPPED, this.skip * 2 || 1);
        this.skipped = 0;
        return;
      }
    }
    this.caught++;
    this.skip = 0;
  };

  /**
   * @param windowMs the longest a poll lasts; 0 never polls.
   * @param replies the shard's reply counter (4 bytes, an `Int32Array`), bumped by its worker after each reply.
   * @param now a monotonic clock in milliseconds.
   */
  constructor(
    private readonly windowMs: number,
    replies: SharedArrayBuffer,
    private readonly now: () => number,
  ) {
    this.counter = new Int32Array(replies, 0, 1);
  }

  /** A batch worth waiting for was just sent: poll for its reply once the host's loop has had its turn. */
  expect(): void {
    if (this.windowMs === 0 || this.scheduled) return;
    if (this.skipped < this.skip) {
      this.skipped++;
      return;
    }
    // Read now, before the reply can be posted: a reply that comes before the poll ends it at once.
    this.seen = Atomics.load(this.counter, 0);
    this.scheduled = true;
    setImmediate(this.poll);
  }
}
