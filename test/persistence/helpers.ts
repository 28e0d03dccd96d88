/**
 * Helpers for the persistence tests: temp directories that are always removed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';

/** A fresh temp directory, removed after the current test whatever its outcome. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'session-shards-'));
  created.push(dir);
  return dir;
}

const created: string[] = [];
afterEach(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp directory that lives until the current file's tests are done (for a `beforeAll` fixture). */
export function fixtureDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'session-shards-fixture-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
