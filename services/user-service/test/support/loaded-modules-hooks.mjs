// Module resolve hook for loaded-modules.mjs: appends each resolved @opentelemetry URL to the file.
import { appendFileSync } from 'node:fs';

let file;
export function initialize(data) {
  file = data.file;
}

export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (result.url.includes('@opentelemetry')) appendFileSync(file, `import ${result.url}\n`);
  return result;
}
