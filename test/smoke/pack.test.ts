/**
 * The package as a user gets it. A clean clone of this repository's HEAD (committed files only: no dist/, no
 * build) is packed with `npm pack`, whose `prepack` script must build it; the tarball is installed into a fresh
 * folder and used by name from ES modules, from CommonJS (`require`), and from TypeScript in both, on the Node.js
 * that runs this test (.ci/run runs the suite on each supported version).
 * To stay fast, the clone borrows this checkout's node_modules through a symlink instead of its own `npm ci`
 * (the build only needs TypeScript from it). Needs the registry (or npm's cache) for the installed package's
 * dependencies (piscina, ulid, msgpackr) and the ACP SDK peer.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const TYPE_ROOTS = join(ROOT, 'node_modules', '@types');

const SMOKE_MJS = `
import { SessionEngine, SessionNotFoundError } from 'session-shards';
const engine = await SessionEngine.start({ shards: 2 });
const id = await engine.create({ mcpServers: ['git'] });
await engine.appendMessage(id, { role: 'user', content: 'hello from a user' });
const session = await engine.get(id);
const missing = await engine.appendMessage('00000000000000000000000000', { role: 'user', content: 'x' }).catch((e) => e);
await engine.close();
console.log(JSON.stringify({ id: session.id === id, context: session.context.map((m) => m.content), notFound: missing instanceof SessionNotFoundError && missing.code }));
`;

// CommonJS, both entry points. The ACP adapter's error mapping checks \`instanceof SessionEngineError\`: it maps an
// error made through require('session-shards') only if both entry points share one copy of the classes.
const SMOKE_CJS = `
const { SessionEngine, SessionNotFoundError } = require('session-shards');
const { AcpSessionService, toRequestError } = require('session-shards/acp');
async function main() {
  const engine = await SessionEngine.start({ shards: 2 });
  const acp = new AcpSessionService(engine);
  const init = acp.initialize({ protocolVersion: 1, clientCapabilities: {} });
  const { sessionId } = await acp.newSession({ cwd: '/tmp', mcpServers: [] });
  await engine.appendMessage(sessionId, { role: 'user', content: 'hello from require' });
  const session = await engine.get(sessionId);
  const missing = await engine.get('00000000000000000000000000');
  const notFound = await engine.appendMessage('00000000000000000000000000', { role: 'user', content: 'x' }).catch((e) => e);
  await engine.close();
  console.log(JSON.stringify({
    loadSession: init.agentCapabilities.loadSession,
    context: session.context.map((m) => m.content),
    missing: missing === undefined,
    notFound: notFound instanceof SessionNotFoundError && notFound.code,
    mapped: toRequestError(notFound, sessionId) !== notFound,
  }));
}
main().catch((error) => { console.error(error); process.exit(1); });
`;

const TYPES_TS = `
import { SessionEngine, ShardCrashedError, type Session, type SessionEngineOptions, type EngineStats, type ShardRestartEvent } from 'session-shards';

const options: SessionEngineOptions = { shards: 2, maxSessionAgeMs: 60_000 };
const engine: SessionEngine = await SessionEngine.start(options);
const id: string = await engine.create({ clientCapabilities: { fs: { readTextFile: true }, terminal: false }, mcpServers: [] });
const session: Session | undefined = await engine.get(id, { lastMessages: 5 });
const length: number = await engine.appendMessage(id, { role: 'assistant', content: 'typed' });
const ids: string[] = await engine.list({ limit: 10 });
const stats: EngineStats = await engine.stats();
engine.on('shardRestart', (event: ShardRestartEvent) => void event.lostSessions);
engine.on('expired', (expired: string[]) => void expired.length);
const crashed: string = new ShardCrashedError('x').code;
// The types are real, not \`any\`: a wrong role and a wrong event listener do not compile.
// @ts-expect-error 'robot' is not a Role
await engine.appendMessage(id, { role: 'robot', content: 'x' });
// @ts-expect-error the 'expired' listener receives ids, not a number
engine.on('expired', (count: number) => count);
await engine.close();
export { session, length, ids, stats, crashed };
`;

// A TypeScript file of a CommonJS project: compiled to require() calls, then run. No top-level await in CommonJS.
const CONSUMER_TS = `
import { SessionEngine, type Session } from 'session-shards';
import { AcpSessionService, promptText } from 'session-shards/acp';

async function main(): Promise<void> {
  const engine: SessionEngine = await SessionEngine.start({ shards: 1 });
  const service: AcpSessionService = new AcpSessionService(engine);
  const id: string = await engine.create({ mcpServers: [] });
  await engine.appendMessage(id, { role: 'user', content: promptText('typed from CommonJS') });
  const session: Session | undefined = await engine.get(id);
  // @ts-expect-error 'robot' is not a Role: the types are real here too
  await engine.appendMessage(id, { role: 'robot', content: 'x' }).catch(() => undefined);
  await engine.close();
  console.log(JSON.stringify({ service: typeof service.register, context: session?.context.map((m) => m.content) }));
}
void main();
`;

// The OpenAI Agents SDK adapter, from both module systems: an item holding what JSON cannot (undefined, bytes)
// comes back deep-equal, and a bad option is refused with the class the main entry point exports (one copy).
const OPENAI_MJS = `
import { isDeepStrictEqual } from 'node:util';
import { MemorySession } from '@openai/agents-core';
import { SessionEngine } from 'session-shards';
import { EngineSession } from 'session-shards/openai-agents';
const engine = await SessionEngine.start({ shards: 1 });
const session = new EngineSession(engine);
const memory = new MemorySession();
const items = [
  { role: 'user', content: 'hi' },
  { type: 'function_call_result', callId: 'c', name: 'f', status: 'completed', id: undefined,
    output: { type: 'image', image: { data: new Uint8Array([1, 2, 255]), mediaType: 'image/png' } } },
];
await session.addItems(items);
await memory.addItems(items);
const back = await session.getItems();
const popped = await session.popItem();
await engine.close();
console.log(JSON.stringify({ equal: isDeepStrictEqual(back, await memory.getItems()), popped: isDeepStrictEqual(popped, await memory.popItem()), length: back.length }));
`;

const OPENAI_CJS = `
const { SessionEngine, InvalidArgumentError } = require('session-shards');
const { EngineSession } = require('session-shards/openai-agents');
async function main() {
  const engine = await SessionEngine.start({ shards: 1 });
  let refused = null;
  try { new EngineSession(engine, { sessionID: 'x' }); } catch (error) { refused = error instanceof InvalidArgumentError && error.code; }
  const session = new EngineSession(engine);
  await session.addItems([{ role: 'user', content: 'hello from require' }]);
  const items = await session.getItems();
  await engine.close();
  console.log(JSON.stringify({ refused, items }));
}
main().catch((error) => { console.error(error); process.exit(1); });
`;

// EngineSession is the SDK's Session for the type checker too, in each module system.
const OPENAI_TS = `
import type { Session } from '@openai/agents-core';
import { SessionEngine } from 'session-shards';
import { EngineSession, type EngineSessionOptions } from 'session-shards/openai-agents';

async function main(): Promise<void> {
  const engine: SessionEngine = await SessionEngine.start({ shards: 1 });
  const options: EngineSessionOptions = { init: { title: 'typed' } };
  const session: Session = new EngineSession(engine, options);
  await session.addItems([{ role: 'user', content: 'typed item' }]);
  // @ts-expect-error an item is an object of the SDK's types, not a string
  await session.addItems(['not an item']).catch(() => undefined);
  const items = await session.getItems();
  await engine.close();
  console.log(JSON.stringify(items));
}
void main();
`;

function output(result: { stdout?: string; stderr?: string }): string {
  return `${result.stdout ?? ''}${result.stderr ?? ''}`;
}

async function tsc(cwd: string, args: string[]): Promise<string> {
  const common = ['--strict', '--target', 'es2022', '--typeRoots', TYPE_ROOTS, '--types', 'node', '--skipLibCheck'];
  const result = await run(process.execPath, [TSC, ...common, ...args], { cwd, timeout: 100_000 }).catch(
    (error: { stdout?: string; stderr?: string }) => error,
  );
  return output(result);
}

describe('the packed package (from a clean clone, on this Node)', () => {
  let work: string;
  let app: string;
  let cjs: string;
  let files: string[];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'session-shards-pack-'));
    const clone = join(work, 'clone');
    await run('git', ['clone', '--quiet', ROOT, clone], { timeout: 60_000 });
    if (existsSync(join(clone, 'dist'))) throw new Error('the clone has a dist/: not a clean clone');
    await symlink(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
    // No build first: prepack must make dist/src.
    await run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: clone, timeout: 180_000 });
    const tarball = (await readdir(work)).find((name) => name.endsWith('.tgz'));
    if (tarball === undefined) throw new Error('npm pack made no tarball');
    const listing = await run('tar', ['-tzf', join(work, tarball)], { timeout: 30_000 });
    files = listing.stdout
      .split('\n')
      .filter(Boolean)
      .map((path) => path.replace(/^package\//, ''));

    app = join(work, 'app');
    cjs = join(app, 'cjs');
    await mkdir(cjs, { recursive: true });
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'smoke-app', private: true, type: 'module' }));
    await writeFile(join(cjs, 'package.json'), JSON.stringify({ name: 'smoke-cjs', private: true, type: 'commonjs' }));
    // The ACP adapter needs its optional peer; the version this checkout tests with.
    const sdk = JSON.parse(await readFile(join(ROOT, 'node_modules', '@agentclientprotocol', 'sdk', 'package.json'), 'utf8')) as { version: string };
    const install = ['install', join(work, tarball), `@agentclientprotocol/sdk@${sdk.version}`, '--no-audit', '--no-fund', '--prefer-offline', '--silent'];
    await run('npm', install, { cwd: app, timeout: 150_000 });
    // The OpenAI Agents adapter's optional peer, and zod, which that SDK imports when it loads.
    const agentsCore = JSON.parse(await readFile(join(ROOT, 'node_modules', '@openai', 'agents-core', 'package.json'), 'utf8')) as { version: string };
    const zod = JSON.parse(await readFile(join(ROOT, 'node_modules', 'zod', 'package.json'), 'utf8')) as { version: string };
    const peers = ['install', `@openai/agents-core@${agentsCore.version}`, `zod@${zod.version}`, '--no-audit', '--no-fund', '--prefer-offline', '--silent'];
    await run('npm', peers, { cwd: app, timeout: 150_000 });
  }, 400_000);

  afterAll(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('contains the built code, no sources, tests or source maps, and the licence and changelog', () => {
    expect(files).toContain('dist/src/index.js');
    expect(files).toContain('dist/src/index.d.ts');
    expect(files).toContain('dist/src/shard/memory/worker.js');
    // The ACP adapter ships too (its SDK is an optional peer), and its example agent, runnable as it is.
    expect(files).toContain('dist/src/acp/index.js');
    expect(files).toContain('dist/src/acp/index.d.ts');
    expect(files).toContain('dist/src/otel/index.js');
    expect(files).toContain('dist/src/otel/index.d.ts');
    expect(files).toContain('dist/src/openai-agents/index.js');
    expect(files).toContain('dist/src/openai-agents/index.d.ts');
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']));
    expect(files.filter((path) => path.startsWith('dist/examples/') || path.startsWith('dist/bench/'))).toEqual(['dist/examples/acp-agent.js']);
    expect(files.filter((path) => path.startsWith('src/') || path.startsWith('test/') || path.startsWith('bench/') || path.startsWith('tools/'))).toEqual([]);
    // The maps would point at src/*.ts, which is not shipped.
    expect(files.filter((path) => path.endsWith('.map'))).toEqual([]);
  });

  it('can be imported by name from an ES module, and creates, gets and closes', async () => {
    await writeFile(join(app, 'smoke.mjs'), SMOKE_MJS);
    const { stdout } = await run(process.execPath, ['smoke.mjs'], { cwd: app, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ id: true, context: ['hello from a user'], notFound: 'ERR_SESSION_NOT_FOUND' });
  }, 120_000);

  it('can be required from CommonJS, both entry points, without warnings', async () => {
    await writeFile(join(cjs, 'smoke.js'), SMOKE_CJS);
    const { stdout, stderr } = await run(process.execPath, ['smoke.js'], { cwd: cjs, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({
      loadSession: true,
      context: ['hello from require'],
      missing: true,
      notFound: 'ERR_SESSION_NOT_FOUND',
      mapped: true,
    });
    // Node prints an ExperimentalWarning for require(esm) where it is not yet stable.
    expect(stderr).toBe('');
  }, 120_000);

  it('ships its types: a TypeScript ES module type-checks against them (module nodenext)', async () => {
    await writeFile(join(app, 'check.ts'), TYPES_TS);
    expect(await tsc(app, ['--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', 'check.ts'])).toBe('');
  }, 120_000);

  it('a TypeScript CommonJS project compiles against the types (module nodenext) and runs', async () => {
    await writeFile(join(cjs, 'consumer.ts'), CONSUMER_TS);
    expect(await tsc(cjs, ['--module', 'nodenext', '--moduleResolution', 'nodenext', 'consumer.ts'])).toBe('');
    expect(await readFile(join(cjs, 'consumer.js'), 'utf8')).toContain(`require("session-shards")`);
    const { stdout } = await run(process.execPath, ['consumer.js'], { cwd: cjs, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ service: 'function', context: ['typed from CommonJS'] });
  }, 180_000);

  it('a TypeScript CommonJS project with moduleResolution node10 resolves both entry points and runs', async () => {
    await mkdir(join(cjs, 'legacy'), { recursive: true });
    await writeFile(join(cjs, 'legacy', 'consumer.ts'), CONSUMER_TS);
    expect(await tsc(join(cjs, 'legacy'), ['--module', 'commonjs', '--moduleResolution', 'node10', '--ignoreDeprecations', '5.0', 'consumer.ts'])).toBe('');
    const { stdout } = await run(process.execPath, ['consumer.js'], { cwd: join(cjs, 'legacy'), timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ service: 'function', context: ['typed from CommonJS'] });
  }, 180_000);

  it('session-shards/openai-agents can be imported from an ES module: items round-trip as MemorySession keeps them', async () => {
    await writeFile(join(app, 'openai-agents.mjs'), OPENAI_MJS);
    const { stdout } = await run(process.execPath, ['openai-agents.mjs'], { cwd: app, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ equal: true, popped: true, length: 2 });
  }, 120_000);

  it('session-shards/openai-agents can be required from CommonJS, sharing the error classes, without warnings', async () => {
    await writeFile(join(cjs, 'openai-agents.js'), OPENAI_CJS);
    const { stdout, stderr } = await run(process.execPath, ['openai-agents.js'], { cwd: cjs, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ refused: 'ERR_INVALID_ARGUMENT', items: [{ role: 'user', content: 'hello from require' }] });
    expect(stderr).toBe('');
  }, 120_000);

  it('EngineSession type-checks as the SDK’s Session: ES module (nodenext), CommonJS (nodenext, node10), and runs', async () => {
    await writeFile(join(app, 'openai-agents-check.ts'), OPENAI_TS);
    expect(await tsc(app, ['--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', 'openai-agents-check.ts'])).toBe('');
    await writeFile(join(cjs, 'openai-agents-consumer.ts'), OPENAI_TS);
    expect(await tsc(cjs, ['--module', 'nodenext', '--moduleResolution', 'nodenext', 'openai-agents-consumer.ts'])).toBe('');
    const { stdout } = await run(process.execPath, ['openai-agents-consumer.js'], { cwd: cjs, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual([{ role: 'user', content: 'typed item' }]);
    await mkdir(join(cjs, 'legacy-openai'), { recursive: true });
    await writeFile(join(cjs, 'legacy-openai', 'consumer.ts'), OPENAI_TS);
    const legacy = ['--module', 'commonjs', '--moduleResolution', 'node10', '--ignoreDeprecations', '5.0', 'consumer.ts'];
    expect(await tsc(join(cjs, 'legacy-openai'), legacy)).toBe('');
  }, 180_000);
});
