/**
 * Turns Ajv's errors into FastAPI/pydantic's validation detail: `{"loc": [...], "msg": "...", "type": "..."}`,
 * so clients written against the Python services parse our 422s unchanged.
 */
export interface ValidationDetail {
  loc: (string | number)[];
  msg: string;
  type: string;
}

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

const PART: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

function formatMessage(format: unknown): [string, string] {
  switch (format) {
    case 'email':
      return ['value is not a valid email address', 'value_error'];
    case 'uuid':
      return ['Input should be a valid UUID', 'uuid_parsing'];
    case 'date-time':
      return ['Input should be a valid datetime', 'datetime_parsing'];
    default:
      return [`Input should be a valid ${String(format)}`, 'value_error'];
  }
}

function describe(error: AjvError): [string, string] {
  const p = error.params;
  switch (error.keyword) {
    case 'required':
      return ['Field required', 'missing'];
    case 'format':
      return formatMessage(p.format);
    case 'minLength':
      return [`String should have at least ${p.limit} character${p.limit === 1 ? '' : 's'}`, 'string_too_short'];
    case 'maxLength':
      return [`String should have at most ${p.limit} characters`, 'string_too_long'];
    case 'pattern':
      return [`String should match pattern '${p.pattern}'`, 'string_pattern_mismatch'];
    case 'type':
      return [
        `Input should be a valid ${p.type === 'integer' ? 'integer' : p.type}`,
        `${p.type === 'integer' ? 'int' : p.type}_type`,
      ];
    case 'minimum':
      return [`Input should be greater than or equal to ${p.limit}`, 'greater_than_equal'];
    case 'maximum':
      return [`Input should be less than or equal to ${p.limit}`, 'less_than_equal'];
    case 'maxItems':
      return [`List should have at most ${p.limit} items`, 'too_long'];
    case 'unsafeString':
      return ['String should not contain NUL characters or unpaired surrogates', 'string_unicode'];
    case 'additionalProperties':
      return ['Extra inputs are not permitted', 'extra_forbidden'];
    case 'enum':
      return [`Input should be ${(p.allowedValues as unknown[]).map((v) => `'${v}'`).join(' or ')}`, 'enum'];
    default:
      return [error.message ?? 'Invalid value', 'value_error'];
  }
}

export function toValidationDetail(errors: AjvError[], context: string | undefined): ValidationDetail[] {
  const part = PART[context ?? 'body'] ?? 'body';
  const seen = new Set<string>();
  const out: ValidationDetail[] = [];
  for (const error of errors) {
    // A union reports each failing branch and then itself; the branch errors say more, one per field is enough.
    if (error.keyword === 'anyOf') continue;
    const loc: (string | number)[] = [part];
    for (const seg of error.instancePath.split('/').slice(1))
      loc.push(/^\d+$/.test(seg) ? Number(seg) : seg.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (error.keyword === 'required') loc.push(String(error.params.missingProperty));
    if (error.keyword === 'additionalProperties') loc.push(String(error.params.additionalProperty));
    const key = loc.join('\0');
    if (seen.has(key)) continue;
    seen.add(key);
    const [msg, type] = describe(error);
    out.push({ loc, msg, type });
  }
  return out;
}
