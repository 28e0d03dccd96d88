/**
 * Helpers for the integration tests. They import the BUILT engine (`dist/`), since the shard workers
 * must load compiled JavaScript; `npm test` builds before it runs vitest.
 */
import { SessionEngine, type SessionEngineOptions } from '../../dist/src/index.js';

/**
 * Starts an engine, runs `fn` with it, and always closes it afterwards (even when `fn` throws), so that
 * no test leaves worker threads behind.
 */
export async function withEngine<T>(options: SessionEngineOptions, fn: (engine: SessionEngine) => Promise<T>): Promise<T> {
  const engine = await SessionEngine.start(options);
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

/**
 * Polls `predicate` until it returns true (or a promise of true); rejects after `timeoutMs` with `what`.
 * Use it instead of fixed sleeps: a loaded machine may be much slower than the one the test was written on.
 */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Waits at least `ms` milliseconds. Only for letting time pass (a TTL), never to wait for a result. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The settled outcome of a promise, for asserting on many calls at once. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** The `code` of a rejection reason, or `undefined` if it has none. */
export function codeOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

/**
 * Orders a fault. `injectFault` resolves once the shard accepted the order, but on a loaded machine the
 * worker may die before its answer is read: the order then rejects `ERR_SHARD_CRASHED`, which is also
 * proof that the fault struck. Any other rejection is a failure.
 */
export async function injectFault(engine: SessionEngine, shard: number, kind: 'exit' | 'throw' | 'oom' | 'hang'): Promise<void> {
  await engine.injectFault(shard, kind).catch((error: unknown) => {
    if (codeOf(error) !== 'ERR_SHARD_CRASHED') throw error;
  });
}
