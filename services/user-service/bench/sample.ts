/**
 * What the workloads pick from: existing ids and emails at random positions of the table, and list cursors at
 * random positions, at its start and at its end. Read once through the data layer, so the cursors are exactly
 * the ones the service issues.
 */
import { openDatabase } from '@user-service/data';
import { FIRST_NAMES, LAST_NAMES } from '../src/cli/seed.command.js';
import { UserRepository } from '../src/users/user.repository.js';
import { SORTABLE } from '../src/users/user.schemas.js';
import { BENCH_JWT_SECRET } from './processes.js';

export interface Sample {
  total: number;
  ids: string[];
  emails: string[];
  /** Cursors (next_cursor values) at random positions of the whole table. */
  cursors: string[];
  /** Cursors within the first 1% of the table, and within its last 1% (with a full page after each). */
  cursorsStart: string[];
  cursorsEnd: string[];
  /** 3- and 4-character search terms that occur in names and emails. */
  searchTerms: string[];
  /**
   * Terms that match one user: the `last.tag` part of sampled emails (`ada.lovelace.1a2b@...` gives
   * `lovelace.1a2b`), what an operator types to find a given account.
   */
  rareTerms: string[];
}

/** Search terms: pieces of the seeded names, lower-cased, 3+ characters. */
export function searchTerms(): string[] {
  const terms = new Set<string>();
  for (const name of [...FIRST_NAMES.slice(0, 20), ...LAST_NAMES.slice(0, 20)]) {
    const n = name.toLowerCase();
    terms.add(n.slice(0, 4).length >= 3 ? n.slice(0, 4) : n);
    if (n.length >= 5) terms.add(n.slice(1, 4));
  }
  return [...terms].filter((t) => t.length >= 3);
}

const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * Math.max(1, max - min + 1));

export async function loadSample(databaseUrl: string): Promise<Sample> {
  // Cursors are signed with a key derived from the service's JWT_SECRET: sign them with the one the bench gives it.
  const database = await openDatabase(databaseUrl, {
    connectAttempts: 1,
    pool: { size: 2, maxOverflow: 0 },
    cursorSecret: BENCH_JWT_SECRET,
  });
  try {
    const users = new UserRepository(database);
    const total = await users.count();
    if (total < 200) throw new Error(`the table holds ${total} users; seed at least 200`);
    const ids: string[] = [];
    const emails: string[] = [];
    /** `hops` cursors starting right after row `skip`, each a page of 20 further on. */
    const cursorsFrom = async (skip: number, hops: number, collect = false): Promise<string[]> => {
      const first = await users.list({ filters: {}, skip, limit: collect ? 100 : 1, sortable: SORTABLE });
      if (collect) {
        for (const row of first.items) {
          ids.push(row.id);
          emails.push(row.email);
        }
      }
      const out: string[] = [];
      let cursor = first.nextCursor;
      for (let i = 0; i < hops && cursor; i++) {
        out.push(cursor);
        cursor = (await users.list({ filters: {}, skip: 0, after: cursor, limit: 20, sortable: SORTABLE })).nextCursor;
      }
      return out;
    };
    const cursors: string[] = [];
    const cursorsStart: string[] = [];
    const cursorsEnd: string[] = [];
    const edge = Math.max(200, Math.floor(total / 100));
    for (let i = 0; i < 20; i++) {
      cursors.push(...(await cursorsFrom(randomInt(0, total - 300), 5, true)));
      cursorsStart.push(...(await cursorsFrom(randomInt(0, edge - 100), 2)));
      cursorsEnd.push(...(await cursorsFrom(randomInt(total - edge, total - 60), 1)));
    }
    const rareTerms = emails.map((e) => e.slice(e.indexOf('.') + 1, e.indexOf('@')));
    return { total, ids, emails, cursors, cursorsStart, cursorsEnd, searchTerms: searchTerms(), rareTerms };
  } finally {
    await database.close();
  }
}

export const pickFrom = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T;
