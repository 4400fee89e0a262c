import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { type Database, DatabaseUnavailableError, DataError, type Migrator } from '@user-service/data';
import { errors } from '../http/common.schemas.js';

/**
 * The readiness probe answers within this long whatever the database does: a probe that hangs on a frozen
 * database is a probe the orchestrator times out itself, without a reason. Shorter than DB_QUERY_TIMEOUT_MS.
 */
const READY_TIMEOUT_MS = 2_000;

export interface HealthDeps {
  database: Database;
  migrator: Migrator;
}

/** Liveness (the process answers) and readiness (the database answers and its schema is at head). */
export const healthRoutes: FastifyPluginAsyncTypebox<HealthDeps> = async (app, { database, migrator }) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness',
        description: '200 when the database answers and every migration is applied; 503 with the reason otherwise.',
        response: {
          200: Type.Object({
            status: Type.Literal('ready'),
            database: Type.String(),
            migration: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errors(503),
        },
      },
    },
    async (_request, reply) => {
      let pending: string[];
      let current: string | null;
      try {
        // One deadline for the whole check: the ping, then the migrations table.
        [pending, current] = await database.withTimeout(READY_TIMEOUT_MS, async () => {
          await database.ping();
          return Promise.all([migrator.pending(), migrator.current()]);
        });
      } catch (error) {
        // A DataError other than unavailability is the schema's (e.g. migrated by newer code): say which.
        const detail =
          error instanceof DataError && !(error instanceof DatabaseUnavailableError)
            ? `Database ${database.kind} is not usable: ${error.message}`
            : `Database ${database.kind} is not answering`;
        return reply.code(503).header('retry-after', '5').send({ detail });
      }
      if (pending.length > 0) {
        return reply.code(503).send({
          detail: `Database schema is behind: ${pending.length} migration(s) pending (${pending.join(', ')}); run "npm run migrate -- up"`,
        });
      }
      return { status: 'ready' as const, database: database.kind, migration: current };
    },
  );
};
