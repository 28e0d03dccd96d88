/**
 * Injected faults (`engine.injectFault()`, for tests and failure drills), shared by both shard workers.
 */
import type { FaultKind } from '../protocol/messages.js';

let pending = false;

/**
 * Whether a fault was injected and has not struck yet. A worker answers no batch meanwhile: a call
 * that comes within the fault's millisecond (a Redis read can be answered in less) must run into it,
 * not slip past, or a test of the fault could pass or fail by timing.
 */
export function faultPending(): boolean {
  return pending;
}

/** Makes the worker of `shard` fail as `kind` asks, once the reply announcing it has been posted. */
export function injectFault(kind: FaultKind, shard: number): void {
  pending = true;
  // Outside any task, as a real failure would strike.
  setTimeout(() => {
    switch (kind) {
      case 'throw':
        throw new Error(`injected fault 'throw' in shard ${shard}`);
      case 'exit':
        process.exit(1);
        break;
      case 'oom': {
        const hoard: number[][] = [];
        for (;;) hoard.push(new Array<number>(1 << 20).fill(hoard.length + 0.5));
      }
      case 'hang':
        for (;;) {
          // a busy loop: the event loop never turns again
        }
    }
  }, 1);
}
