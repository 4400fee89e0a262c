/**
 * Error codes Node's sockets and resolver give to pg and mysql2 alike when the server cannot be reached or the
 * connection breaks: the database is unavailable (retry later, 503), whatever it is.
 */
export const NETWORK_ERROR_CODES: readonly string[] = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
];
