/**
 * Starts and stops real `redis-server` processes for the Redis tests, each on a free loopback port.
 * Every helper that opens something closes it: a test owns the servers it starts.
 *
 * Without the binary the Redis tests are skipped, except under CI (`process.env.CI`), where `.ci/run`
 * installs it: skipped tests there would be a silent hole, so the harness throws instead.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });

/** Whether `redis-server` is installed. */
export const hasRedis = found.status === 0;

if (!hasRedis && process.env.CI) {
  throw new Error('redis-server is not installed, and CI must not skip the Redis tests (.ci/run installs it)');
}

/** A free TCP port on 127.0.0.1 (free when asked; the server binding it next is nearly always first). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Whether `port` on 127.0.0.1 can be bound now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (the port + 10 000, as Redis Cluster binds it) is free as well. */
async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 <= 65_535 && (await canBind(port + 10_000))) return port;
  }
}

/** Whether a start failed only because another process took one of its ports meanwhile. */
function lostPortRace(error: unknown): boolean {
  return error instanceof Error && /Address already in use/.test(error.message);
}

/** One running `redis-server`. */
export class RedisServer {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'ss-redis-'));

  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
  ) {}

  /** Whether the process runs (it has not been killed). */
  get running(): boolean {
    return this.child !== null;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * Starts a server on a free loopback port (or on `port`), without persistence. A cluster node (given
   * `--cluster-enabled`) also gets a free bus port. A port taken by someone else between the probe and the
   * bind is retried on another one.
   */
  static async start(extraArgs: string[] = [], port?: number): Promise<RedisServer> {
    const clusterNode = extraArgs.includes('--cluster-enabled');
    for (let attempt = 1; ; attempt++) {
      const server = new RedisServer(port ?? (await (clusterNode ? freeClusterPort() : freePort())), extraArgs);
      try {
        await server.restart();
        return server;
      } catch (error) {
        await server.stop();
        if (port !== undefined || attempt === 3 || !lostPortRace(error)) throw error;
      }
    }
  }

  /** Starts the process again on the same port (after `kill()`). */
  async restart(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.extraArgs];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server on port ${this.port} did not start: ${output}`)), 15_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on port ${this.port} exited with ${code}: ${output}`));
      });
    });
    child.stdout!.resume();
    child.stderr!.resume();
  }

  /** Kills the process at once (SIGKILL: no shutdown, like a crash) and waits for it to be gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Freezes the process (SIGSTOP): connections stay open, nothing answers. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a paused process run again. */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Stops the server and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A Redis Cluster of three masters on loopback (with `replicas`, that many replicas each), each node on a
 * free port, its slots assigned by `redis-cli --cluster create`. The first three nodes are the masters.
 */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  /** The seed nodes, as the `store` option takes them. */
  get seeds(): string[] {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`);
  }

  static async start(replicas = 0): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < 3 * (1 + replicas); i++) {
        nodes.push(
          await RedisServer.start([
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '2000',
            '--cluster-replica-validity-factor',
            '0',
          ]),
        );
      }
      const created = spawnSync(
        'redis-cli',
        ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
        {
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
      const cluster = new RedisCluster(nodes);
      await cluster.waitUntilOk();
      return cluster;
    } catch (error) {
      await Promise.all(nodes.map((node) => node.stop()));
      throw error;
    }
  }

  /**
   * Waits until every live node reports `cluster_state:ok` (slots are assigned and known everywhere) and
   * every replica is in sync with its master (a replica that never synced never takes over).
   */
  async waitUntilOk(): Promise<void> {
    const deadline = Date.now() + 30_000;
    const cli = (node: RedisServer, ...args: string[]) => spawnSync('redis-cli', ['-p', String(node.port), ...args], { encoding: 'utf8' }).stdout ?? '';
    for (;;) {
      const ok = this.nodes
        .filter((node) => node.running)
        .every((node) => {
          if (!cli(node, 'cluster', 'info').includes('cluster_state:ok')) return false;
          const replication = cli(node, 'info', 'replication');
          return !replication.includes('role:slave') || replication.includes('master_link_status:up');
        });
      if (ok) return;
      if (Date.now() > deadline) throw new Error('the Redis Cluster did not reach cluster_state:ok within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** What the live nodes say of the cluster, for a failure's message. */
  describe(): string {
    const node = this.nodes.find((n) => n.running);
    return node === undefined ? 'no live node' : spawnSync('redis-cli', ['-p', String(node.port), 'cluster', 'nodes'], { encoding: 'utf8' }).stdout;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}

/** Runs `fn` with a fresh server, and always stops it. */
export async function withRedis<T>(fn: (server: RedisServer) => Promise<T>, extraArgs: string[] = []): Promise<T> {
  const server = await RedisServer.start(extraArgs);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}
