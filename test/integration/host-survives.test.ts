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

/**
 * A host with a 1 GiB heap fills a session to the most the defaults allow (maxSessionBytes), then reads
 * and removes it: the reads must fit the host's heap, never kill it.
 */
const LARGEST_SESSION_HOST = `
import { SessionEngine } from ${JSON.stringify(ENTRY)};
const engine = await SessionEngine.start({ shards: 1 });
const id = await engine.create({ clientCapabilities: { note: 'c'.repeat(1000) }, mcpServers: ['git'] });
let bytes = 0;
let messages = 0;
// 1 MiB messages (maxMessageBytes), then halves, until the session takes nothing more.
for (let size = 1_048_576; size >= 16; size /= 2) {
  const content = 'x'.repeat(size);
  for (;;) {
    try {
      await engine.appendMessage(id, { role: 'user', content });
    } catch (error) {
      if (error.code !== 'ERR_LIMIT_EXCEEDED' || !error.message.includes('maxSessionBytes')) throw error;
      break;
    }
    bytes += size;
    messages++;
  }
}
const total = (session) => session.context.reduce((sum, m) => sum + m.content.length, 0);
for (let i = 0; i < 3; i++) {
  const session = await engine.get(id);
  if (session.context.length !== messages || total(session) !== bytes) throw new Error('get() did not return the whole session');
}
const removed = await engine.remove(id);
if (removed.context.length !== messages || total(removed) !== bytes) throw new Error('remove() did not return the whole session');
if ((await engine.get(id)) !== undefined) throw new Error('remove() did not remove');
await engine.close();
console.log(JSON.stringify({ messages, bytes, limit: engine.options.maxSessionBytes }));
`;

describe('a host with a 1 GiB heap', () => {
  it('reads and removes the largest session the defaults allow', async () => {
    const { stdout } = await run(process.execPath, ['--max-old-space-size=1024', '--input-type=module', '-e', LARGEST_SESSION_HOST], {
      timeout: 180_000,
      maxBuffer: 1_048_576,
    });
    const { messages, bytes, limit } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { messages: number; bytes: number; limit: number };
    expect(limit).toBe(64 * 1_048_576);
    // Filled to within a few records of the limit (each record carries about 47 bytes besides its content:
    // its 26-character minted id, its role, headers and timestamp).
    expect(bytes).toBeGreaterThan(limit - 2_048 - 96 * messages);
    expect(bytes).toBeLessThanOrEqual(limit);
  }, 240_000);
});
