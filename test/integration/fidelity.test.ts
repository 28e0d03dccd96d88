import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionEngine } from '../../dist/src/index.js';
import { settle } from '../helpers/engine.js';

/** What a session gives back is exactly what was stored, or the call was refused: never silently altered. */
describe('stored as given', () => {
  let engine: SessionEngine;

  beforeAll(async () => {
    engine = await SessionEngine.start({ shards: 2 });
  });

  afterAll(async () => {
    await engine.close();
  });

  it.each([
    ['ASCII', 'plain text'],
    ['accents and CJK', 'héllo wörld こんにちは 你好'],
    ['emoji and combining marks', '👩‍💻 e\u0301 🇫🇷'],
    ['control characters and NUL', 'a\u0000b\u0001c\u007f\n\r\t'],
    ['a long multi-byte text', 'ü😀'.repeat(50_000)],
  ])('returns a message content of %s exactly as appended', async (_what, content) => {
    const id = await engine.create();
    await engine.appendMessage(id, { role: 'user', content });
    expect((await engine.get(id))!.context[0]!.content).toBe(content);
  });

  // UTF-8 cannot carry a lone surrogate: such text is refused rather than stored altered.
  it.each([
    ['a short content', 'a\uD800'],
    ['a long content', `${'x'.repeat(1_000)}\uDC00`],
  ])('refuses or keeps intact a lone surrogate in %s', async (_what, content) => {
    const id = await engine.create();
    const outcome = await settle(engine.appendMessage(id, { role: 'user', content }));
    if (outcome.ok) expect((await engine.get(id))!.context[0]!.content).toBe(content);
    else expect(outcome.error).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('keeps unknown capability keys, nested values and key order', async () => {
    const clientCapabilities = {
      terminal: true,
      zeta: { list: [1, 'two', null, { deep: [true] }], n: -1.5 },
      fs: { writeTextFile: true, readTextFile: false },
      alpha: 'a',
      'with space': 0,
      '': 'empty key',
    };
    const id = await engine.create({ clientCapabilities });
    const stored = (await engine.get(id))!.clientCapabilities;
    expect(stored).toEqual(clientCapabilities);
    expect(Object.keys(stored!)).toEqual(Object.keys(clientCapabilities));
  });

  // An own "__proto__" key is refused: a decoder assigning it could swap the prototype of what it builds.
  it('refuses or keeps as given a capabilities object with an own "__proto__" key', async () => {
    const clientCapabilities = JSON.parse('{"terminal": true, "__proto__": {"polluted": true}}') as Record<string, unknown>;
    const outcome = await settle(engine.create({ clientCapabilities }));
    if (outcome.ok) {
      const stored = (await engine.get(outcome.value))!.clientCapabilities!;
      expect(Object.keys(stored).sort()).toEqual(['__proto__', 'terminal']);
    } else {
      expect(outcome.error).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps capabilities nested 16 levels deep, the most allowed', async () => {
    let clientCapabilities: Record<string, unknown> = { leaf: 'bottom' };
    for (let i = 1; i < 16; i++) clientCapabilities = { down: clientCapabilities };
    const id = await engine.create({ clientCapabilities });
    expect((await engine.get(id))!.clientCapabilities).toEqual(clientCapabilities);
  });

  it('keeps many MCP server names, in order, duplicates included', async () => {
    const mcpServers = Array.from({ length: 500 }, (_, i) => `server-${i % 250}`);
    const id = await engine.create({ mcpServers });
    expect((await engine.get(id))!.mcpServers).toEqual(mcpServers);
  });

  it('keeps timestamps exactly, including 0 and fractions', async () => {
    const id = await engine.create();
    for (const timestamp of [0, 1, 1_764_028_800_000, 1_764_028_800_000.5, 2 ** 48]) {
      await engine.appendMessage(id, { role: 'system', content: 't', timestamp });
    }
    expect((await engine.get(id))!.context.map((m) => m.timestamp)).toEqual([0, 1, 1_764_028_800_000, 1_764_028_800_000.5, 2 ** 48]);
  });
});
