import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Database, Migrator } from '@user-service/data';
import { errors } from '../http/common.schemas.js';

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
      try {
        await database.ping();
      } catch {
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ detail: `Database ${database.kind} is not answering` });
      }
      const pending = await migrator.pending();
      if (pending.length > 0) {
        return reply.code(503).send({
          detail: `Database schema is behind: ${pending.length} migration(s) pending (${pending.join(', ')}); run "npm run migrate -- up"`,
        });
      }
      return { status: 'ready' as const, database: database.kind, migration: await migrator.current() };
    },
  );
};
