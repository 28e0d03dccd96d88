/**
 * `examples/openai-agents.ts` works as its comment says: a conversation begun on one engine goes on in a new
 * one, over a persistence directory and over a shared Redis.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedis, RedisServer } from '../redis/redis-server.js';

const run = promisify(execFile);
const EXAMPLE = fileURLToPath(new URL('../../dist/examples/openai-agents.js', import.meta.url));

/** Runs the built example; resolves what it printed. */
async function example(env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run(process.execPath, [EXAMPLE], { env: { ...process.env, REDIS_URL: undefined, ...env }, timeout: 60_000 });
  return stdout;
}

function expectConversation(stdout: string): void {
  expect(stdout).toContain('turn 1: It is 21:00 in Tokyo.\n');
  // The second turn's answer came after the model was sent the first turn, read back through a new engine.
  expect(stdout).toContain('turn 2: You asked about Tokyo.\n');
  expect(stdout).toMatch(/holds 7 items: message, reasoning, function_call, function_call_result, message, message, message\n/);
  expect(stdout).toContain('engine roles: user, assistant, assistant, tool, assistant, user, assistant\n');
}

describe('examples/openai-agents.ts', () => {
  it('continues the conversation after a restart on the same persistence directory', async () => {
    expectConversation(await example({}));
  });

  describe.skipIf(!hasRedis)('with REDIS_URL', () => {
    let server: RedisServer;
    beforeAll(async () => {
      server = await RedisServer.start();
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('continues the conversation through a second engine on the same Redis', async () => {
      expectConversation(await example({ REDIS_URL: server.url }));
    });
  });
});
