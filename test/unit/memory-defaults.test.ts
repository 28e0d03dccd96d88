/**
 * The default `shardHeapMb` fits the machine: 3/4 of the memory the process may use, shared among the
 * shards, within 64 to 8 192 MiB. The memory is the smallest of `process.constrainedMemory()`, the cgroup's
 * limit and the machine's memory; these tests give it simulated limits.
 */
import { describe, expect, it } from 'vitest';
import { totalmem } from 'node:os';
import {
  availableMemoryBytes,
  DEFAULT_SHARD_HEAP_MAX_MB,
  DEFAULT_SHARD_HEAP_MIN_MB,
  defaultShardHeapMb,
  type MemorySources,
  resolveOptions,
  shardSessionBudgetBytes,
} from '../../src/main/options.js';

const MiB = 1_048_576;
const GiB = 1_024 * MiB;

function sources(limits: { constrained?: number; cgroup?: number; total: number }): MemorySources {
  return { constrained: () => limits.constrained, cgroup: () => limits.cgroup, total: () => limits.total };
}

describe('defaultShardHeapMb', () => {
  it('gives the shards together 3/4 of the memory, in equal shares', () => {
    expect(defaultShardHeapMb(1, 4 * GiB)).toBe(3_072);
    expect(defaultShardHeapMb(3, 4 * GiB)).toBe(1_024);
    expect(defaultShardHeapMb(4, 16 * GiB)).toBe(3_072);
  });

  it('leaves the host a quarter: the shards together never take more than 3/4 above the floor', () => {
    for (const shards of [1, 2, 3, 7, 15, 31]) {
      for (const gib of [1, 2, 4, 8, 32, 128]) {
        const heapMb = defaultShardHeapMb(shards, gib * GiB);
        if (heapMb > DEFAULT_SHARD_HEAP_MIN_MB) expect(shards * heapMb, `${shards} shards, ${gib} GiB`).toBeLessThanOrEqual(0.75 * gib * 1_024);
      }
    }
  });

  it('is at most 8 192 MiB on a large machine (the old fixed default)', () => {
    expect(defaultShardHeapMb(1, 256 * GiB)).toBe(DEFAULT_SHARD_HEAP_MAX_MB);
    expect(DEFAULT_SHARD_HEAP_MAX_MB).toBe(8_192);
  });

  it('is at least 64 MiB, however many shards share a small container', () => {
    expect(defaultShardHeapMb(31, 512 * MiB)).toBe(DEFAULT_SHARD_HEAP_MIN_MB);
    expect(DEFAULT_SHARD_HEAP_MIN_MB).toBe(64);
  });

  it('on a 32-core host with a 2 GiB container limit: 31 shards of 64 MiB, not 31 x 8 GiB', () => {
    const available = availableMemoryBytes(sources({ constrained: 2 * GiB, total: 128 * GiB }));
    expect(defaultShardHeapMb(31, available)).toBe(64);
    expect(defaultShardHeapMb(7, available)).toBe(219);
  });
});

describe('availableMemoryBytes', () => {
  it("is the machine's memory when nothing constrains the process", () => {
    expect(availableMemoryBytes(sources({ total: 16 * GiB }))).toBe(16 * GiB);
    expect(availableMemoryBytes(sources({ constrained: 0, total: 16 * GiB }))).toBe(16 * GiB);
  });

  it('is process.constrainedMemory() when that is set and below the machine', () => {
    expect(availableMemoryBytes(sources({ constrained: 2 * GiB, total: 16 * GiB }))).toBe(2 * GiB);
  });

  it("is the cgroup's limit when Node reports none", () => {
    expect(availableMemoryBytes(sources({ cgroup: 3 * GiB, total: 16 * GiB }))).toBe(3 * GiB);
  });

  it('is the smallest of the limits known', () => {
    expect(availableMemoryBytes(sources({ constrained: 6 * GiB, cgroup: 3 * GiB, total: 16 * GiB }))).toBe(3 * GiB);
    expect(availableMemoryBytes(sources({ constrained: 2 * GiB, cgroup: 3 * GiB, total: 16 * GiB }))).toBe(2 * GiB);
  });

  it("ignores a limit above the machine's memory (how some Nodes and cgroups say 'unlimited')", () => {
    expect(availableMemoryBytes(sources({ constrained: 2 ** 62, cgroup: 2 ** 62, total: 16 * GiB }))).toBe(16 * GiB);
    expect(availableMemoryBytes(sources({ constrained: Number.POSITIVE_INFINITY, total: 16 * GiB }))).toBe(16 * GiB);
  });

  it("is at most this machine's memory by default", () => {
    const bytes = availableMemoryBytes();
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(totalmem());
  });
});

describe('the resolved options', () => {
  it('show the shardHeapMb derived for the shards resolved, and the session budget follows it', () => {
    const available = availableMemoryBytes();
    for (const shards of [1, 2, 8]) {
      const options = resolveOptions({ shards });
      expect(options.shardHeapMb).toBe(defaultShardHeapMb(shards, available));
      expect(shardSessionBudgetBytes(options)).toBe(Math.floor(options.shardHeapMb * MiB * 0.75));
    }
  });

  it('keep a shardHeapMb given, whatever the memory', () => {
    expect(resolveOptions({ shards: 8, shardHeapMb: 16 }).shardHeapMb).toBe(16);
    expect(resolveOptions({ shards: 1, shardHeapMb: 1_048_576 }).shardHeapMb).toBe(1_048_576);
  });
});
