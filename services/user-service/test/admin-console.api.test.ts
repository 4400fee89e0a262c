/**
 * How the service serves the admin console (src/admin/admin-console.routes.ts): one HTML document for every
 * console path and for the mail links' pages, revalidated on each visit; hashed assets cached for a year; the
 * console's own strict Content-Security-Policy on all of it and not on the API; nothing outside the assets
 * folder reachable through it; a clear 503 when the console was not built; the API as closed as before.
 * Served the same on every database, so it runs on SQLite only. The browser tests are admin-console.browser.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { onEachDatabase } from '@user-service/data/testing';
import { ADMIN_CSP, builtConsoleDir } from '../src/admin/admin-console.routes.js';
import { openTestApp, type TestApp } from './support/test-app.js';

const USER_ID = '0b6f6a3e-5d1c-4c59-9a59-7f0d2c7f1a11';

/** A console build of our own: the tests below must not depend on what the real bundle's names are. */
function fakeBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'us-console-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><script type="module" src="/admin/assets/app-AB12.js"></script>',
  );
  writeFileSync(join(dir, 'assets', 'app-AB12.js'), 'console.log("console");');
  writeFileSync(join(dir, 'secret.txt'), 'not an asset');
  writeFileSync(join(dir, 'assets', '.hidden'), 'not an asset either');
  return dir;
}

onEachDatabase(
  'admin console',
  (tdb) => {
    describe('with a build', () => {
      let t: TestApp;
      let dir: string;
      before(async () => {
        dir = fakeBuild();
        t = await openTestApp(tdb, { defaultCredentials: false, adminConsoleDir: dir });
      });
      after(async () => {
        await t.close();
        rmSync(dir, { recursive: true, force: true });
      });

      it('answers every console path and the mail pages with the one document, anonymously and revalidated', async () => {
        const document = readFileSync(join(dir, 'index.html'), 'utf8');
        for (const url of [
          '/admin',
          '/admin/',
          `/admin/users/${USER_ID}`,
          '/admin/audit',
          '/verify-email',
          '/reset-password',
        ]) {
          const res = await t.app.inject({ url });
          assert.equal(res.statusCode, 200, url);
          assert.equal(res.body, document, url);
          assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/, url);
          assert.equal(res.headers['cache-control'], 'no-cache', url);
          assert.equal(res.headers['content-security-policy'], ADMIN_CSP, url);
          assert.equal(res.headers['x-frame-options'], 'DENY', url);
        }
      });

      it("the console's policy admits only its own scripts and styles, no inline code, no framing", () => {
        const directives = new Map(
          ADMIN_CSP.split(';').map((d) => {
            const [name, ...values] = d.trim().split(/\s+/);
            return [name, values.join(' ')] as const;
          }),
        );
        assert.equal(directives.get('default-src'), "'none'");
        assert.equal(directives.get('script-src'), "'self'");
        assert.equal(directives.get('style-src'), "'self'");
        assert.equal(directives.get('connect-src'), "'self'");
        assert.equal(directives.get('frame-ancestors'), "'none'");
        assert.equal(directives.get('form-action'), "'none'");
        assert.equal(directives.get('require-trusted-types-for'), "'script'");
        assert.doesNotMatch(ADMIN_CSP, /unsafe-|\*|https?:/);
      });

      it('serves hashed assets for a year, immutable, under the same policy', async () => {
        const res = await t.app.inject({ url: '/admin/assets/app-AB12.js' });
        assert.equal(res.statusCode, 200);
        assert.equal(res.body, 'console.log("console");');
        assert.match(String(res.headers['content-type']), /javascript/);
        assert.match(String(res.headers['cache-control']), /max-age=31536000/);
        assert.match(String(res.headers['cache-control']), /immutable/);
        assert.equal(res.headers['content-security-policy'], ADMIN_CSP);
      });

      it('a missing asset is a 404 in the API shape; nothing outside assets/ is reachable', async () => {
        for (const method of ['GET', 'HEAD'] as const) {
          const missing = await t.app.inject({ method, url: '/admin/assets/nope-0000.js' });
          assert.equal(missing.statusCode, 404, method);
          if (method === 'GET') assert.deepEqual(missing.json(), { detail: 'Not Found' });
        }
        for (const url of [
          '/admin/assets/../secret.txt',
          '/admin/assets/..%2fsecret.txt',
          '/admin/assets/%2e%2e/secret.txt',
          '/admin/assets/..%2f..%2f..%2fpackage.json',
          '/admin/assets/.hidden',
        ]) {
          const res = await t.app.inject({ url });
          // A path that resolves to a console page gets the document; anything else is refused; no file leaks.
          const page = res.statusCode === 200 && res.body === readFileSync(join(dir, 'index.html'), 'utf8');
          assert.ok(page || (res.statusCode >= 400 && res.statusCode < 500), `${url}: ${res.statusCode}`);
          assert.doesNotMatch(res.body, /not an asset|"name"/, url);
        }
      });

      it('the API keeps its own headers and its access rules', async () => {
        const api = await t.app.inject({ url: '/api/v1/users' });
        assert.equal(api.statusCode, 401);
        assert.notEqual(api.headers['content-security-policy'], ADMIN_CSP);
        assert.equal(api.headers['cache-control'], 'no-store');
        const health = await t.app.inject({ url: '/health' });
        assert.notEqual(health.headers['content-security-policy'], ADMIN_CSP);
      });

      it('the console is not part of the API document', async () => {
        const paths = Object.keys((await t.app.inject({ url: '/openapi.json' })).json().paths);
        assert.ok(paths.length > 10);
        assert.deepEqual(
          paths.filter((p) => p.startsWith('/admin') || p === '/verify-email' || p === '/reset-password'),
          [],
        );
      });
    });

    describe('without a build', () => {
      let t: TestApp;
      let dir: string;
      before(async () => {
        dir = mkdtempSync(join(tmpdir(), 'us-console-empty-'));
        t = await openTestApp(tdb, { defaultCredentials: false, adminConsoleDir: dir });
      });
      after(async () => {
        await t.close();
        rmSync(dir, { recursive: true, force: true });
      });

      it('says so with 503 and Retry-After instead of a blank page', async () => {
        const res = await t.app.inject({ url: '/admin' });
        assert.equal(res.statusCode, 503);
        assert.ok(Number(res.headers['retry-after']) > 0);
        assert.equal(res.json().detail, 'The admin console is not built');
      });
    });

    describe('the real build (scripts/build.mjs, run before the tests by `npm test`)', () => {
      let t: TestApp;
      before(async () => {
        t = await openTestApp(tdb, { defaultCredentials: false, adminConsoleDir: builtConsoleDir() });
      });
      after(() => t.close());

      it('names only assets that exist, with no inline script or style', async () => {
        const indexPath = join(builtConsoleDir(), 'index.html');
        assert.ok(existsSync(indexPath), `${indexPath} missing: run node scripts/build.mjs first`);
        const html = (await t.app.inject({ url: '/admin' })).body;
        assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'an inline <script>');
        assert.doesNotMatch(html, /<style|\sstyle=/, 'inline style');
        const assets = [...html.matchAll(/(?:src|href)="(\/admin\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
        assert.equal(assets.length, 2, `one script and one stylesheet: ${assets.join(', ')}`);
        // Nothing else is published: no source maps (the console's whole source), no stray files.
        assert.deepEqual(readdirSync(join(builtConsoleDir(), 'assets')).sort(), assets.map((a) => a.slice(14)).sort());
        for (const url of assets) {
          assert.match(url, /-[A-Z0-9]{8}\.(js|css)$/, `${url} carries a content hash`);
          const res = await t.app.inject({ url });
          assert.equal(res.statusCode, 200, url);
          assert.ok(res.body.length > 1000, `${url} is the real bundle`);
        }
      });
    });
  },
  ['sqlite'],
);
