/**
 * The OpenAPI document states the access policy route by route (access/access-control.ts writes it from
 * access/policy.ts): both security schemes, per-operation security, and the 401/403 answers. Checked against the
 * policy table itself, so the document cannot drift from what the service enforces.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { POLICY } from '../src/access/policy.js';
import { CONSOLE_PAGES } from '../src/admin/admin-console.routes.js';
import { openTestApp, type TestApp } from './support/test-app.js';

interface Operation {
  security?: Record<string, string[]>[];
  responses: Record<string, unknown>;
}

describe('the OpenAPI document and the access policy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-openapi-'));
  let t: TestApp;
  let doc: {
    components: { securitySchemes: Record<string, Record<string, unknown>> };
    security: unknown;
    paths: Record<string, Record<string, Operation>>;
  };
  before(async () => {
    t = await openTestApp({ kind: 'sqlite', url: `sqlite:///${join(dir, 'doc.db')}` }, { defaultCredentials: false });
    const res = await t.app.inject('/openapi.json');
    assert.equal(res.statusCode, 200);
    doc = res.json();
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('declares both schemes: the OAuth2 password form on /auth/login and an X-API-Key header', () => {
    const { bearerAuth, apiKeyAuth } = doc.components.securitySchemes;
    assert.deepEqual(bearerAuth?.type, 'oauth2');
    const flows = bearerAuth?.flows as { password?: { tokenUrl?: string } } | undefined;
    assert.equal(flows?.password?.tokenUrl, '/api/v1/auth/login');
    assert.deepEqual(
      { type: apiKeyAuth?.type, in: apiKeyAuth?.in, name: apiKeyAuth?.name },
      {
        type: 'apiKey',
        in: 'header',
        name: 'X-API-Key',
      },
    );
  });

  it('gives every documented operation the security and the 401/403 answers its policy rule implies', () => {
    let checked = 0;
    for (const [key, rule] of Object.entries(POLICY)) {
      const [method = '', url = ''] = key.split(' ');
      if (url === '/openapi.json') continue; // the document itself is hidden from the document
      // The console's pages are web pages, not API operations (admin-console.api.test.ts checks them).
      if ((CONSOLE_PAGES as readonly string[]).includes(url) || url.startsWith('/admin/assets/')) continue;
      // Prometheus' scrape is not an API operation (hidden; metrics.test.ts checks who may call it).
      if (rule.access === 'metrics') continue;
      const path = url.replace(/:(\w+)/g, '{$1}');
      const operation = doc.paths[path]?.[method.toLowerCase()];
      assert.ok(operation, `${key} is in the document`);
      const schemes = (operation.security ?? []).flatMap((entry) => Object.keys(entry)).sort();
      const codes = Object.keys(operation.responses);
      if (rule.access === 'public') {
        // (login and refresh may still answer 401 for wrong credentials: their own answer, not the policy's)
        assert.deepEqual(schemes, [], `${key} needs no credentials`);
      } else if (rule.access === 'registration') {
        assert.deepEqual(schemes, [], `${key} needs no credentials`);
        assert.ok(codes.includes('403'), `${key} documents 403 (registration closed)`);
      } else {
        const expected =
          rule.access === 'admin' || rule.access === 'owner' ? ['apiKeyAuth', 'bearerAuth'] : ['bearerAuth'];
        assert.deepEqual(schemes, expected, `${key} security`);
        assert.ok(codes.includes('401') && codes.includes('403'), `${key} documents 401 and 403: ${codes}`);
      }
      checked++;
    }
    assert.ok(checked >= 40, `checked ${checked} operations`);
  });
});
