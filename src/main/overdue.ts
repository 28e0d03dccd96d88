/**
 * How the host decides that a worker is not answering, shared by the engine's watchdog (batches) and a
 * shard's start-up (its ping).
 *
 * Something is overdue only when it is late at two looks in a row. When the host's own thread was held (a
 * long collection, a long synchronous task, a busy machine), the first timer to run afterwards finds
 * everything late, while the answers wait behind that timer in the event loop: acting then would end a
 * healthy worker (and a memory shard's sessions with it). The next look, a quarter of the timeout later at
 * most, comes after those answers have been read.
 */

/** Milliseconds between two looks for a timeout of `timeoutMs`: a quarter of it, within 25 ms to 1 s. */
export function lookPeriodMs(timeoutMs: number): number {
  return Math.max(25, Math.min(1_000, Math.floor(timeoutMs / 4)));
}

/**
 * Aborts `controller` once `timeoutMs` have passed at two looks in a row (the caller tells why, by
 * checking `signal.aborted`), counted from the start or from `lastProgress()` (a `performance.now()`
 * time), whichever is later. Returns the function that stops looking (call it once the awaited answer
 * has come, or failed).
 */
export function abortWhenOverdue(controller: AbortController, timeoutMs: number, lastProgress: () => number = () => 0): () => void {
  const started = performance.now();
  let lateBefore = false;
  const timer = setInterval(() => {
    const late = performance.now() > Math.max(started, lastProgress()) + timeoutMs;
    if (late && lateBefore) {
      clearInterval(timer);
      controller.abort();
    }
    lateBefore = late;
  }, lookPeriodMs(timeoutMs));
  return () => clearInterval(timer);
}
