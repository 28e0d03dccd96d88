import { describe, expect, it } from 'vitest';
import { MAX_SKIPPED, ReplySpin } from '../../src/main/reply-spin.js';

/**
 * A clock that moves `stepMs` at each reading and can play the worker: after `replyAfterReads` readings
 * it bumps the reply counter, as a worker does once its reply is posted.
 */
function steppingClock(replies: SharedArrayBuffer, stepMs: number, replyAfterReads = Number.POSITIVE_INFINITY) {
  const counter = new Int32Array(replies);
  let now = 1_000;
  const clock = () => {
    clock.reads++;
    if (clock.reads === replyAfterReads) Atomics.add(counter, 0, 1);
    now += stepMs;
    return now;
  };
  clock.reads = 0;
  return clock;
}

/** A poll with a 50 µs window, its reply counter, and a stepping clock (see `steppingClock`). */
function pollWithClock(stepMs: number, replyAfterReads?: number) {
  const replies = new SharedArrayBuffer(4);
  const clock = steppingClock(replies, stepMs, replyAfterReads);
  return { replies, clock, spin: new ReplySpin(0.05, replies, clock) };
}

/** Lets the event loop turn, so that a poll scheduled with `setImmediate` has run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('the host polling for a small batch reply', () => {
  it('polls after the event loop has had its turn, until the reply is posted, and counts it caught', async () => {
    const { clock, spin } = pollWithClock(0.001, 5);
    spin.expect();
    expect(clock.reads).toBe(0);
    await turn();
    expect(clock.reads).toBe(5);
    expect([spin.caught, spin.missed]).toEqual([1, 0]);
  });

  it('ends at the window when no reply comes, and counts a miss', async () => {
    const { clock, spin } = pollWithClock(0.01);
    spin.expect();
    await turn();
    expect(clock.reads).toBe(6);
    expect([spin.caught, spin.missed]).toEqual([0, 1]);
  });

  it('ends at once when the reply was posted before the poll began', async () => {
    const { replies, clock, spin } = pollWithClock(0.001);
    spin.expect();
    Atomics.add(new Int32Array(replies), 0, 1);
    await turn();
    expect(clock.reads).toBe(1);
    expect([spin.caught, spin.missed]).toEqual([1, 0]);
  });

  it('runs one poll per turn, however many batches are sent before it', async () => {
    const { spin } = pollWithClock(0.01);
    spin.expect();
    spin.expect();
    spin.expect();
    await turn();
    expect(spin.missed).toBe(1);
  });

  it('skips batches after a miss, twice as many after each further miss, and polls for every batch again once one is caught', async () => {
    const replies = new SharedArrayBuffer(4);
    const counter = new Int32Array(replies);
    let replyComes = false;
    let now = 0;
    // The worker answers within the window only when the test says so.
    const clock = () => {
      if (replyComes) Atomics.add(counter, 0, 1);
      now += 0.01;
      return now;
    };
    const spin = new ReplySpin(0.05, replies, clock);
    /** Sends `batches` batches one after another; returns how many were polled for. */
    const send = async (batches: number): Promise<number> => {
      const before = spin.caught + spin.missed;
      for (let i = 0; i < batches; i++) {
        spin.expect();
        await turn();
      }
      return spin.caught + spin.missed - before;
    };
    expect(await send(1)).toBe(1); // a miss: skip 1
    expect(await send(2)).toBe(1); // skipped one, then a miss: skip 2
    expect(await send(3)).toBe(1); // skipped two, then a miss: skip 4
    expect(await send(5)).toBe(1);
    expect(spin.missed).toBe(4);
    // Misses never skip more than MAX_SKIPPED batches in a row.
    for (let i = 0; i < 10; i++) await send(MAX_SKIPPED + 1);
    expect(await send(MAX_SKIPPED + 1)).toBe(1);
    replyComes = true;
    // Within the next MAX_SKIPPED + 1 batches a poll comes, and catches its reply.
    await send(MAX_SKIPPED + 1);
    expect(spin.caught).toBeGreaterThan(0);
    expect(await send(10)).toBe(10);
    // A catch starts the skipping over: a miss after it skips one batch only.
    replyComes = false;
    expect(await send(3)).toBe(2);
  });

  it('never polls with a window of 0', async () => {
    const replies = new SharedArrayBuffer(4);
    const clock = steppingClock(replies, 0.01);
    const spin = new ReplySpin(0, replies, clock);
    spin.expect();
    await turn();
    expect(clock.reads).toBe(0);
    expect([spin.caught, spin.missed]).toEqual([0, 0]);
  });
});
