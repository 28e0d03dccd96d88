/**
 * Keeps a shard's thread awake for a short while after it answers a batch.
 *
 * A thread that sleeps in its event loop is woken by the next batch's message; on a virtual machine that
 * wake-up is a large part of a one-operation round trip. While a spin is on, the event
 * loop turns with `setImmediate` (libuv then polls without sleeping), so a batch that arrives within the
 * window is picked up at once, and the timers (the cleanup sweep) still run.
 *
 * The spin adapts: after a batch that arrived later than the window (the spin before it was wasted), the
 * next answer is not followed by one; a batch that arrives within the window turns it on again. Sparse
 * traffic therefore costs no CPU, and traffic whose batches follow each other within the window costs the
 * gaps between them, at most.
 *
 * The shards of one engine share a board (`ShardSpinConfig.board`) that lets only the most recent answerers spin, as
 * many as the board allows: a spinning thread holds a core, and one core must stay free for the host's
 * own thread, or the host's wake-up waits behind a spinner for its time slice.
 */
export class IdleSpin {
  private spinUntil = 0;
  private isSpinning = false;
  private answeredAt = Number.NEGATIVE_INFINITY;
  private worthIt = true;
  private ticket = 0;
  private readonly board: Int32Array;
  private readonly turn = (): void => {
    if (this.now() < this.spinUntil && ((Atomics.load(this.board, 0) - this.ticket) | 0) < this.spinners) setImmediate(this.turn);
    else this.isSpinning = false;
  };

  /**
   * @param windowMs how long to spin after an answer; 0 never spins.
   * @param board the engine's board (`ShardSpinConfig.board`): a counter of answers, shared by its shards.
   * @param spinners how many shards of the engine may spin at once (the most recent answerers).
   * @param now a monotonic clock in milliseconds.
   */
  constructor(
    private readonly windowMs: number,
    board: SharedArrayBuffer,
    private readonly spinners: number,
    private readonly now: () => number,
  ) {
    this.board = new Int32Array(board, 0, 1);
  }

  /** Whether the thread is spinning now. */
  get spinning(): boolean {
    return this.isSpinning;
  }

  /** A batch arrived: it tells whether the last spin (or the one that was skipped) would have caught it. */
  arrived(): void {
    if (this.windowMs === 0) return;
    this.spinUntil = 0;
    this.worthIt = this.now() - this.answeredAt <= this.windowMs;
  }

  /** A batch was answered: spin for the window, if the last gap says the next batch comes that soon. */
  answered(): void {
    if (this.windowMs === 0) return;
    this.answeredAt = this.now();
    if (!this.worthIt || this.spinners === 0) return;
    // Wraps at 2^31 answers; the subtraction in `turn` wraps with it.
    this.ticket = (Atomics.add(this.board, 0, 1) + 1) | 0;
    this.spinUntil = this.answeredAt + this.windowMs;
    if (!this.isSpinning) {
      this.isSpinning = true;
      setImmediate(this.turn);
    }
  }
}
