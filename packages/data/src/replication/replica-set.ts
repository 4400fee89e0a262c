import type { Kysely } from 'kysely';
import type { Dialect, Replication } from '../dialects/dialect.js';
import { withQueryTimeout } from '../dialects/query-timeout.js';
import type { CursorCodec } from '../pagination.js';
import type { Repository } from '../repository.js';
import type { TableDefinition } from '../table.js';
import { SqlScope } from '../transaction.js';

/** How a replica is doing, for health checks, metrics and tests. */
export interface ReplicaStatus {
  /** The replica's URL with its password hidden. */
  url: string;
  healthy: boolean;
  /** How far behind the primary it was at the last probe, in ms (0: caught up); undefined when not known. */
  lagMs: number | undefined;
  /** Reads it has served since the process started. */
  reads: number;
}

export interface ReplicaSetOptions {
  /** Time between two probes of every replica (and of the primary's position), in ms. */
  pollMs: number;
  /** A replica further behind than this serves no reads until it catches up, in ms. */
  maxLagMs: number;
  /** Bound on one probe query, in ms. */
  probeTimeoutMs: number;
  /** Told when a replica leaves or rejoins the rotation (a log line). */
  onChange?: (message: string) => void;
}

/** One replica: its own pool, the position it had replayed at the last probe, and whether it may serve. */
export class ReplicaNode {
  healthy = false;
  /** Replayed position at the last successful probe; -1 before the first. */
  replayed = -1n;
  lagMs: number | undefined;
  reads = 0;
  private readonly scope: SqlScope;
  private readonly repositories = new Map<TableDefinition<any, any, any>, Repository<any, any, any>>();

  constructor(
    readonly url: string,
    readonly kysely: Kysely<any>,
    dialect: Dialect,
    cursors: CursorCodec,
    readonly close: () => Promise<void>,
  ) {
    this.scope = new SqlScope(kysely, dialect, cursors);
  }

  /** This replica's repository for a table (one per table, made once). */
  repository<Row extends object, Optional extends keyof Row, Secret extends keyof Row & string>(
    table: TableDefinition<Row, Optional, Secret>,
  ): Repository<Row, Optional, Secret> {
    let repository = this.repositories.get(table);
    if (!repository) {
      repository = this.scope.repository(table);
      this.repositories.set(table, repository);
    }
    return repository as Repository<Row, Optional, Secret>;
  }
}

/**
 * The replicas of one primary. A background loop probes every replica each `pollMs` (its replayed position)
 * and the primary's current position, and keeps a short history of the latter; a replica's lag is then how
 * long ago the primary first passed the replica's position. A replica is in the rotation while its last probe
 * answered, it is a standby, and its lag is at most `maxLagMs`. Reads pick round robin among those that have
 * replayed the position the read needs. A replica whose read fails (it died between two probes) is taken
 * out at once; the next successful probe puts it back.
 */
export class ReplicaSet {
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private closed = false;
  /** The primary's position over the last `maxLagMs` (and one sample before), oldest first. */
  private history: { at: number; position: bigint }[] = [];

  constructor(
    readonly nodes: ReplicaNode[],
    private readonly primary: Kysely<any>,
    private readonly replication: Replication,
    private readonly options: ReplicaSetOptions,
  ) {}

  /** Probes once (so the first requests can use replicas that answer), then every `pollMs` in the background. */
  async start(): Promise<void> {
    await this.probe();
    const loop = () => {
      if (this.closed) return;
      this.probing = this.probe().finally(() => {
        this.probing = undefined;
        // Unref'd like the first: the probes alone never keep a process alive.
        if (!this.closed) this.timer = setTimeout(loop, this.options.pollMs).unref();
      });
    };
    this.timer = setTimeout(loop, this.options.pollMs).unref();
  }

  /**
   * How long after a write a replica in the rotation may still not show it: a replica whose position is
   * behind a write is out once its lag, counted from the first probe after the write, passes maxLagMs, which
   * the probe after that sees. Whatever remembers a client's write position for read-your-writes must keep it
   * at least this long.
   */
  get stalenessBoundMs(): number {
    return this.options.maxLagMs + 2 * this.options.pollMs + this.options.probeTimeoutMs;
  }

  /**
   * A replica that may serve a read which must show `position` (any, when undefined), or undefined: then the
   * read goes to the primary.
   */
  pick(position: bigint | undefined): ReplicaNode | undefined {
    const count = this.nodes.length;
    for (let i = 0; i < count; i++) {
      const node = this.nodes[(this.next + i) % count]!;
      if (node.healthy && (position === undefined || node.replayed >= position)) {
        this.next = (this.next + i + 1) % count;
        return node;
      }
    }
    return undefined;
  }

  /** A read on `node` failed as if the server were gone: out of the rotation until a probe answers again. */
  markDown(node: ReplicaNode, error: unknown): void {
    if (!node.healthy) return;
    node.healthy = false;
    this.options.onChange?.(`read replica ${node.url} taken out of rotation: ${(error as Error).message}`);
  }

  status(): ReplicaStatus[] {
    return this.nodes.map((n) => ({ url: n.url, healthy: n.healthy, lagMs: n.lagMs, reads: n.reads }));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.probing;
    await Promise.all(this.nodes.map((n) => n.close()));
  }

  private async probe(): Promise<void> {
    const now = Date.now();
    try {
      const position = await this.bounded(() => this.replication.primaryPosition(this.primary));
      this.remember(now, position);
    } catch {
      // The primary not answering is the primary's problem (its own requests fail): replica lags stay as known.
    }
    await Promise.all(this.nodes.map((node) => this.probeNode(node, now)));
  }

  /**
   * A probe query, failed after probeTimeoutMs wherever the time goes. The query's own bound (withQueryTimeout)
   * starts only once it has a connection; opening one to a frozen server (it accepts TCP but never answers the
   * start-up) waits for the pool's acquire timeout (10 s by default). Unbounded here, that wait held start-up,
   * kept every other replica's health and position unchanged meanwhile (the probes run together), and kept
   * a replica that froze in the rotation, serving reads that hang. The abandoned attempt ends on its own bound.
   */
  private bounded<T>(probe: () => Promise<T>): Promise<T> {
    const ms = this.options.probeTimeoutMs;
    const attempt = withQueryTimeout(ms, probe);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`did not answer a probe within ${ms} ms`)), ms);
    });
    attempt.catch(() => {});
    return Promise.race([attempt, deadline]).finally(() => clearTimeout(timer));
  }

  private remember(at: number, position: bigint): void {
    const last = this.history.at(-1);
    if (!last || position > last.position) this.history.push({ at, position });
    // Keep one sample older than maxLagMs: it tells that a replica behind it is too far behind.
    while (this.history.length > 2 && this.history[1]!.at < at - this.options.maxLagMs) this.history.shift();
  }

  /** How long ago the primary first went past `replayed` (0 when the replica is at the latest known position). */
  private lagOf(replayed: bigint, now: number): number | undefined {
    if (this.history.length === 0) return undefined;
    const ahead = this.history.find((sample) => sample.position > replayed);
    return ahead ? now - ahead.at : 0;
  }

  private async probeNode(node: ReplicaNode, now: number): Promise<void> {
    let replayed: bigint | undefined;
    let failure: string | undefined;
    try {
      replayed = await this.bounded(() => this.replication.replayedPosition(node.kysely));
      if (replayed === undefined) failure = 'it is not a standby (pg_is_in_recovery() is false)';
    } catch (error) {
      failure = (error as Error).message;
    }
    // Taken as it is, not as a maximum: a replica rebuilt from an older backup really is behind again.
    if (replayed !== undefined) node.replayed = replayed;
    node.lagMs = replayed === undefined ? undefined : this.lagOf(replayed, now);
    if (failure === undefined && node.lagMs !== undefined && node.lagMs > this.options.maxLagMs) {
      failure = `${node.lagMs} ms behind the primary (more than ${this.options.maxLagMs} ms)`;
    }
    const healthy = failure === undefined;
    if (healthy !== node.healthy) {
      node.healthy = healthy;
      this.options.onChange?.(
        healthy
          ? `read replica ${node.url} in rotation`
          : `read replica ${node.url} out of rotation: ${failure ?? 'unknown'}`,
      );
    }
  }
}
