import { DatabaseUrlError } from './errors.js';

export type DialectKind = 'sqlite' | 'postgres' | 'mysql';

/** What a DATABASE_URL says, independent of the driver that will use it. */
export type ParsedDatabaseUrl =
  | { kind: 'sqlite'; filename: string }
  | {
      kind: 'postgres' | 'mysql';
      host: string;
      port: number;
      user: string | undefined;
      password: string | undefined;
      database: string;
      params: Record<string, string>;
    };

export const ACCEPTED_URL_FORMS = [
  'sqlite:///./data/app.db (relative path), sqlite:////abs/path.db, sqlite::memory:',
  'postgres://user:pass@host:5432/db or postgresql://...',
  'mysql://user:pass@host:3306/db or mariadb://...',
  'SQLAlchemy spellings: postgresql+asyncpg://, postgresql+psycopg2://, mysql+aiomysql://, mysql+pymysql://, sqlite+aiosqlite:///./file.db',
].join('; ');

// The part after "+" is the Python driver name from SQLAlchemy URLs; it does not matter to us.
const SCHEMES: Record<string, DialectKind | 'mssql'> = {
  sqlite: 'sqlite',
  postgres: 'postgres',
  postgresql: 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
  mssql: 'mssql',
  sqlserver: 'mssql',
};

const DEFAULT_PORTS = { postgres: 5432, mysql: 3306 } as const;

function bad(url: string, why: string): DatabaseUrlError {
  return new DatabaseUrlError(
    `Invalid DATABASE_URL "${redactUrl(url)}": ${why}. Accepted forms: ${ACCEPTED_URL_FORMS}`,
  );
}

export function parseDatabaseUrl(url: string): ParsedDatabaseUrl {
  const match = /^([a-z][a-z0-9]*)(?:\+[a-z0-9_]+)?:(.*)$/i.exec(url.trim());
  if (!match) throw bad(url, 'no scheme');
  const scheme = (match[1] ?? '').toLowerCase();
  const rest = match[2] ?? '';
  const kind = SCHEMES[scheme];
  if (!kind) throw bad(url, `unknown scheme "${scheme}"`);
  if (kind === 'mssql') {
    throw new DatabaseUrlError(
      'SQL Server (mssql://) is recognised but not supported: it is not tested and no SQL Server runs where this project is tested. Use SQLite, PostgreSQL or MySQL/MariaDB.',
    );
  }
  if (kind === 'sqlite') return { kind, filename: parseSqlitePath(url, rest) };

  let parsed: URL;
  try {
    parsed = new URL(`${kind}:${rest}`);
  } catch {
    throw bad(url, 'malformed URL');
  }
  if (!rest.startsWith('//') || !parsed.hostname) throw bad(url, 'missing host');
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database || database.includes('/')) throw bad(url, 'missing or malformed database name');
  const port = parsed.port ? Number(parsed.port) : DEFAULT_PORTS[kind];
  return {
    kind,
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port,
    user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    database,
    params: Object.fromEntries(parsed.searchParams),
  };
}

/** SQLAlchemy rules: three slashes then a relative path, four for an absolute one; ":memory:" in memory. */
function parseSqlitePath(url: string, rest: string): string {
  if (rest === ':memory:' || rest === '///:memory:' || rest === '//' || rest === '') return ':memory:';
  if (!rest.startsWith('///'))
    throw bad(url, 'SQLite URLs are sqlite:///relative/path.db or sqlite:////absolute/path.db');
  const path = rest.slice(3).split('?')[0] ?? '';
  if (!path) throw bad(url, 'missing file path');
  return decodeURIComponent(path);
}

/** The URL with its password replaced, safe for logs and banners. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}
