import { UniqueViolationError } from '@user-service/data';

/**
 * Domain errors thrown by services. They say what went wrong in the caller's terms; the HTTP error handler
 * (http/error-handler.ts) is the only place that turns them into status codes.
 */
export class DomainError extends Error {}

export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
}

export class ConflictError extends DomainError {
  override name = 'ConflictError';
}

export class ForbiddenError extends DomainError {
  override name = 'ForbiddenError';
}

export class UnauthorizedError extends DomainError {
  override name = 'UnauthorizedError';
}

/** A request the service understood but cannot act on (e.g. an emailed token that is unknown, spent or expired). */
export class BadRequestError extends DomainError {
  override name = 'BadRequestError';
}

/** Too many attempts: refused until `retryAfterSeconds` have passed (429 with Retry-After). */
export class TooManyRequestsError extends DomainError {
  override name = 'TooManyRequestsError';
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number, message?: string) {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    super(message ?? `Too many requests; try again in ${seconds} seconds`);
    this.retryAfterSeconds = seconds;
  }
}

/** The process has more work queued than it will take on (e.g. password hashes): 503 with Retry-After. */
export class OverloadedError extends DomainError {
  override name = 'OverloadedError';
  constructor(
    message: string,
    readonly retryAfterSeconds = 2,
  ) {
    super(message);
  }
}

/** Input that passed the schema but breaks a rule, reported like a validation error on one field. */
export class InvalidInputError extends DomainError {
  override name = 'InvalidInputError';
  constructor(
    readonly loc: (string | number)[],
    message: string,
  ) {
    super(message);
  }
}

/**
 * Turns a unique violation into a conflict that names what is taken: `messages` maps a column to the answer,
 * checked in order (each module passes its own, so no module needs another's wording). Anything else is
 * rethrown as it is.
 */
export function conflictOn(error: unknown, messages: Readonly<Record<string, string>>): never {
  if (error instanceof UniqueViolationError) {
    for (const [column, message] of Object.entries(messages)) {
      if (error.columns.includes(column)) throw new ConflictError(message);
    }
  }
  throw error;
}
