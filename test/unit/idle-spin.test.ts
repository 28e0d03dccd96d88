import { describe, expect, it } from 'vitest';
import { IdleSpin } from '../../src/shard/idle-spin.js';

/** A clock the test moves by hand. */
function manualClock() {
  let now = 1_000;
  const clock = () => now;
  clock.advance = (ms: number) => {
    now += ms;
  };
  return clock;
}

/** Lets the event loop turn twice, so that a spin's queued turn has run and looked at the clock. */
async function turns(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** One batch: it arrives `gapMs` after the last answer and is answered at once. */
function batch(spin: IdleSpin, clock: ReturnType<typeof manualClock>, gapMs: number): void {
  clock.advance(gapMs);
  spin.arrived();
  spin.answered();
}

describe('the idle spin of a shard', () => {
  it('keeps the event loop turning after an answer while batches follow within the window, and stops when it ends', async () => {
    const clock = manualClock();
    const spin = new IdleSpin(0.2, new SharedArrayBuffer(4), 1, clock);
    batch(spin, clock, 0);
    batch(spin, clock, 0.1);
    expect(spin.spinning).toBe(true);
    await turns();
    expect(spin.spinning).toBe(true);
    clock.advance(0.2);
    await turns();
    expect(spin.spinning).toBe(false);
  });

  it('does not spin after a batch that came later than the window, and spins again once one comes within it', async () => {
    const clock = manualClock();
    const spin = new IdleSpin(0.2, new SharedArrayBuffer(4), 1, clock);
    batch(spin, clock, 0);
    batch(spin, clock, 5);
    expect(spin.spinning).toBe(false);
    batch(spin, clock, 0.05);
    expect(spin.spinning).toBe(true);
    clock.advance(1);
    await turns();
    expect(spin.spinning).toBe(false);
  });

  it('never spins with a window of 0', () => {
    const clock = manualClock();
    const spin = new IdleSpin(0, new SharedArrayBuffer(4), 1, clock);
    batch(spin, clock, 0);
    batch(spin, clock, 0);
    expect(spin.spinning).toBe(false);
  });

  it('stops when a batch arrives: the thread has work', async () => {
    const clock = manualClock();
    const spin = new IdleSpin(10, new SharedArrayBuffer(4), 1, clock);
    batch(spin, clock, 0);
    batch(spin, clock, 1);
    expect(spin.spinning).toBe(true);
    spin.arrived();
    await turns();
    expect(spin.spinning).toBe(false);
  });

  it('lets only as many shards spin as the board allows: the most recent answerers', async () => {
    const clock = manualClock();
    const board = new SharedArrayBuffer(4);
    const first = new IdleSpin(10, board, 1, clock);
    const second = new IdleSpin(10, board, 1, clock);
    batch(first, clock, 0);
    batch(first, clock, 1);
    batch(second, clock, 0);
    batch(second, clock, 1);
    await turns();
    expect(first.spinning).toBe(false);
    expect(second.spinning).toBe(true);
    clock.advance(10);
    await turns();
    expect(second.spinning).toBe(false);
  });

  it('keeps counting across the wrap of the shared answer counter', async () => {
    const clock = manualClock();
    const board = new SharedArrayBuffer(4);
    new Int32Array(board)[0] = 2 ** 31 - 2;
    const first = new IdleSpin(10, board, 1, clock);
    const second = new IdleSpin(10, board, 1, clock);
    batch(first, clock, 0);
    batch(first, clock, 1);
    batch(second, clock, 0);
    batch(second, clock, 1);
    await turns();
    expect([first.spinning, second.spinning]).toEqual([false, true]);
    clock.advance(10);
    await turns();
    expect(second.spinning).toBe(false);
  });
});
