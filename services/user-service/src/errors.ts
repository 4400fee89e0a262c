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
