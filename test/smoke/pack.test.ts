/**
 * The package as a user gets it: `npm pack`, installed into a fresh folder, imported by name, types included.
 * Needs the registry for the dependencies (piscina, ulid, msgpackr).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');
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

describe('the packed package', () => {
  let work: string;
  let app: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'session-shards-pack-'));
    app = join(work, 'app');
    await run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: ROOT, timeout: 60_000 });
    const tarball = (await readdir(work)).find((name) => name.endsWith('.tgz'));
    if (tarball === undefined) throw new Error('npm pack made no tarball');
    await run('mkdir', ['-p', app]);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'smoke-app', private: true, type: 'module' }));
    await run('npm', ['install', join(work, tarball), '--no-audit', '--no-fund', '--silent'], { cwd: app, timeout: 100_000 });
  }, 120_000);

  afterAll(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('can be imported by name from a fresh folder, and creates, gets and closes', async () => {
    await writeFile(join(app, 'smoke.mjs'), SMOKE_MJS);
    const { stdout } = await run(process.execPath, ['smoke.mjs'], { cwd: app, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ id: true, context: ['hello from a user'], notFound: 'ERR_SESSION_NOT_FOUND' });
  }, 120_000);

  it('ships its types: a TypeScript user type-checks against them (module nodenext)', async () => {
    await writeFile(join(app, 'check.ts'), TYPES_TS);
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--typeRoots', TYPE_ROOTS, '--types', 'node', 'check.ts'];
    const result = await run(TSC, args, { cwd: app, timeout: 100_000 }).catch((error: { stdout?: string; stderr?: string }) => error);
    expect(`${result.stdout ?? ''}${result.stderr ?? ''}`).toBe('');
  }, 120_000);

  it('contains the built code and no sources or tests', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: ROOT, timeout: 60_000 });
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((file) => file.path);
    expect(files).toContain('dist/src/index.js');
    expect(files).toContain('dist/src/index.d.ts');
    expect(files).toContain('dist/src/shard/memory/worker.js');
    // The ACP adapter ships too (its SDK is an optional peer); the example agent does not.
    expect(files).toContain('dist/src/acp/index.js');
    expect(files).toContain('dist/src/acp/index.d.ts');
    expect(files.filter((path) => path.startsWith('dist/examples/'))).toEqual([]);
    expect(files.filter((path) => path.startsWith('src/') || path.startsWith('test/') || path.startsWith('bench/'))).toEqual([]);
  }, 120_000);
});
