/**
 * Exit status of a cluster worker that cannot start for a reason no restart fixes: the database named by
 * DATABASE_URL does not exist, its credentials are refused, the port is taken or privileged. (EX_CONFIG
 * from sysexits.h.) The primary tells it apart from an outage by this code; see cluster.ts.
 */
export const EXIT_CONFIG = 78;
