// `@user-service/data/testing`: what the service's tests share with the data layer's own tests.
export * from './pgbouncer.js';
export * from './planner-stats.js';
export * from './private-postgres.js';
export * from './processes.js';
export * from './server-databases.js';
export * from './tcp-proxy.js';
export * from './test-databases.js';
