// Builds what the package ships: dist/src from src/, and the example ACP agent (dist/examples/acp-agent.js), without source maps (they would point at src/*.ts,
// which is not shipped). Run by `prepack` (npm pack, npm publish) and `prepare` (installs from git).
// `npm pack` runs `prepare` right after `prepack`; that second run has nothing to do and is skipped.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const { npm_lifecycle_event: event, npm_command: command } = process.env;
if (event === 'prepare' && (command === 'pack' || command === 'publish')) {
  console.log('build-package: already built by prepack');
  process.exit(0);
}
const root = fileURLToPath(new URL('..', import.meta.url));
// A clean dist/src: nothing left over from a development build (its .map files, or a file since deleted).
rmSync(new URL('../dist/src', import.meta.url), { recursive: true, force: true });
rmSync(new URL('../dist/examples/acp-agent.js', import.meta.url), { force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
