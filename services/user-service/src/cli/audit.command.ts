/**
 * `user-service audit export` and `user-service audit prune`: the audit log for an operator. The export is
 * NDJSON, one event a line, oldest first, in the shape GET /api/v1/audit-events shows, read in keyset batches
 * and streamed, so memory stays flat whatever the log's size. The prune deletes in bounded batches (see
 * AuditRepository.pruneOlderThan), the same prune AUDIT_RETENTION_DAYS runs in the service.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { AuditFilters } from '../audit/audit.repository.js';
import { AuditService } from '../audit/audit.service.js';
import { AUDIT_EVENTS, type AuditEventName } from '../audit/audit-events.js';
import { loadConfig } from '../config.js';
import { openRuntime } from '../runtime.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DURATION = /^(\d{1,6})([mhdw])$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

function uuid(value: string): string {
  if (!UUID.test(value)) throw new InvalidArgumentError('not a UUID');
  return value;
}

/** An ISO-8601 time, normalised to UTC with milliseconds (what the database compares against). */
export function parseTimestamp(value: string): string {
  const ms = /^\d{4}-\d\d-\d\d(T|$)/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new InvalidArgumentError('use an ISO-8601 time, e.g. 2026-11-01T00:00:00Z');
  return new Date(ms).toISOString();
}

/** "90d", "12h", "30m", "2w" -> milliseconds. */
export function parseDuration(value: string): number {
  const match = DURATION.exec(value.trim());
  const amount = Number(match?.[1]);
  if (!match || amount < 1) {
    throw new InvalidArgumentError('use a positive whole number followed by m, h, d or w, e.g. 90d or 12h');
  }
  return amount * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

interface ExportOptions {
  user?: string;
  actor?: string;
  event?: AuditEventName;
  from?: string;
  to?: string;
  output?: string;
}

interface PruneOptions {
  olderThan?: number;
  dryRun: boolean;
}

export function auditCommand(): Command {
  const audit = new Command('audit').description('read, export and prune the audit log');

  audit
    .command('export')
    .description(
      'write audit events as NDJSON (one event a line, oldest first), as GET /api/v1/audit-events shows them',
    )
    .option('--user <id>', 'only events about this user (target_user_id)', uuid)
    .option('--actor <id>', 'only events done by this user or API key', uuid)
    .addOption(new Option('--event <name>', 'only this event').choices(AUDIT_EVENTS))
    .option('--from <time>', 'events at or after this ISO-8601 time', parseTimestamp)
    .option('--to <time>', 'events before this ISO-8601 time', parseTimestamp)
    .option('--output <file>', 'file to write (default: standard output)')
    .action(async (options: ExportOptions) => {
      const filters: AuditFilters = {
        ...(options.user ? { targetUserId: options.user } : {}),
        ...(options.actor ? { actorId: options.actor } : {}),
        ...(options.event ? { events: [options.event] } : {}),
        ...(options.from ? { from: options.from } : {}),
        ...(options.to ? { to: options.to } : {}),
      };
      // Bulk reads of a large table are not a request: no per-query bound (0: none).
      const runtime = await openRuntime({ ...loadConfig(), queryTimeoutMs: 0 }, (m) => process.stderr.write(`${m}\n`));
      try {
        const counter = { events: 0 };
        const source = Readable.from(lines(new AuditService(runtime.database), filters, counter));
        const file = options.output;
        if (file) {
          // IPs and user agents are personal data: the file is readable by its owner only.
          await pipeline(source, createWriteStream(file, { mode: 0o600 })).catch(async (error: unknown) => {
            // A half-written export must not be mistaken for a whole one.
            await rm(file, { force: true });
            throw error;
          });
        } else {
          await pipeline(source, process.stdout as Writable, { end: false });
        }
        // stderr, because stdout may be the export itself.
        const events = `${counter.events} ${counter.events === 1 ? 'event' : 'events'}`;
        process.stderr.write(`exported ${events} to ${file ?? 'standard output'}\n`);
      } finally {
        await runtime.database.close();
      }
    });

  audit
    .command('prune')
    .description('delete audit events older than a duration (default: AUDIT_RETENTION_DAYS days)')
    .option('--older-than <duration>', 'e.g. 90d, 12h, 30m, 2w', parseDuration)
    .option('--dry-run', 'only print how many events would be deleted', false)
    .action(async (options: PruneOptions) => {
      const config = loadConfig();
      const ageMs = options.olderThan ?? (config.auditRetentionDays > 0 ? config.auditRetentionDays * UNIT_MS.d : 0);
      if (ageMs === 0) {
        throw new Error('say how old, e.g. --older-than 90d (AUDIT_RETENTION_DAYS is not set, so there is no default)');
      }
      const before = new Date(Date.now() - ageMs);
      const runtime = await openRuntime(config);
      try {
        const service = new AuditService(runtime.database);
        if (options.dryRun) {
          const count = await service.countOlderThan(before);
          process.stdout.write(`would delete ${count} audit events older than ${before.toISOString()} (dry run)\n`);
        } else {
          const count = await service.pruneOlderThan(before);
          process.stdout.write(`deleted ${count} audit events older than ${before.toISOString()}\n`);
        }
      } finally {
        await runtime.database.close();
      }
    });

  return audit;
}

/** The export's text, a batch of events at a time. */
async function* lines(service: AuditService, filters: AuditFilters, counter: { events: number }) {
  for await (const events of service.export(filters)) {
    counter.events += events.length;
    yield `${events.map((event) => JSON.stringify(event)).join('\n')}\n`;
  }
}
