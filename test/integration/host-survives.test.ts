import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ENTRY = pathToFileURL(fileURLToPath(new URL('../../dist/src/index.js', import.meta.url))).href;

/**
 * A host process of its own, with no test runner around it to catch what escapes: any uncaught error or
 * unhandled rejection from a dying worker would kill it with a non-zero exit code.
 */
const HOST = `
import { SessionEngine } from ${JSON.stringify(ENTRY)};
const engine = await SessionEngine.start({ shards: 2, faultInjection: true, shardHeapMb: 64, shardTimeoutMs: 1000 });
const restarts = [];
engine.on('shardRestart', (event) => restarts.push(event));
for (const kind of ['throw', 'exit', 'oom', 'hang']) {
  await engine.create();
  // On a loaded machine the worker may die before its answer to the order is read: that rejects ERR_SHARD_CRASHED.
  await engine.injectFault(0, kind).catch((error) => {
    if (error.code !== 'ERR_SHARD_CRASHED') throw error;
  });
  const deadline = Date.now() + 20000;
  // Keep calling: a hung worker is only found while a call waits on it.
  while (restarts.length < 1 + ['throw', 'exit', 'oom', 'hang'].indexOf(kind)) {
    if (Date.now() > deadline) throw new Error('no restart after ' + kind);
    await engine.size().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
const id = await engine.create();
if ((await engine.get(id))?.id !== id) throw new Error('the engine does not serve after the crashes');
await engine.close();
console.log(JSON.stringify({ survived: true, restarts: restarts.length }));
`;

describe('the host process', () => {
  it('survives its shard workers throwing, exiting, running out of heap and hanging, and exits cleanly after close()', async () => {
    // The child must also exit on its own after close(): no worker, timer or handle may be left behind.
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', HOST], { timeout: 90_000 });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ survived: true, restarts: 4 });
  }, 120_000);
});
