/**
 * A real browser for the admin console's tests: Debian's Chromium (`apt-get install chromium`) driven by
 * playwright-core, which never downloads a browser of its own. CHROMIUM_PATH points elsewhere when needed.
 *
 * Every page a test opens is watched for what a person would not see but the console must never do: console
 * errors, uncaught exceptions, and Content-Security-Policy violations (the console's CSP forbids inline script
 * and style and requires Trusted Types, so a regression shows up as a violation rather than as a broken page).
 */
import { existsSync } from 'node:fs';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Why the browser tests cannot run here, or undefined when they can. Under CI=true a missing browser is a
 * failure of the set-up (the caller fails); elsewhere the tests are reported skipped with this reason.
 */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  return `Chromium not found at ${CHROMIUM_PATH}: install Debian's (apt-get install -y chromium) or set CHROMIUM_PATH`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true });
}

/** What a watched page did wrong, kept per browser context (a test's pages, axe's helper page included). */
export class PageProblems {
  private readonly problems: string[] = [];
  private readonly expected: RegExp[] = [];

  /**
   * A failed request the test provokes on purpose (a 422, a 401 at a wrong password, an aborted request):
   * Chromium logs each as a console error "Failed to load resource: ..." with the request's URL. Matched against
   * "<message> <url>". Anything else failing is a problem.
   */
  expect(pattern: RegExp): void {
    this.expected.push(pattern);
  }

  add(problem: string): void {
    this.problems.push(problem);
  }

  consoleError(text: string, url: string): void {
    const line = `${text} ${url}`;
    if (/^Failed to load resource/.test(text) && this.expected.some((p) => p.test(line))) return;
    this.add(`console error: ${line}`);
  }

  /** Throws, listing them, when anything went wrong. */
  assertNone(): void {
    if (this.problems.length > 0) {
      throw new Error(`the page reported ${this.problems.length} problem(s):\n  ${this.problems.join('\n  ')}`);
    }
  }
}

interface Violation {
  directive: string;
  blocked: string;
  source: string;
  sample: string;
}

/**
 * Runs in every document of the context before its own scripts; init scripts are exempt from the page's CSP.
 * (The service's tsconfig has no DOM library: the page's globals are reached through globalThis.)
 */
function listenForViolations(): void {
  const web = globalThis as any;
  web.document.addEventListener('securitypolicyviolation', (event: any) => {
    web.__reportCspViolation?.({
      directive: event.effectiveDirective || event.violatedDirective,
      blocked: event.blockedURI,
      source: `${event.sourceFile}:${event.lineNumber}:${event.columnNumber}`,
      sample: event.sample,
    });
  });
}

function watch(page: Page, problems: PageProblems): void {
  page.on('console', (message) => {
    if (message.type() === 'error') problems.consoleError(message.text(), message.location().url);
  });
  page.on('pageerror', (error) => problems.add(`uncaught: ${error.stack ?? error.message}`));
}

export interface Watched {
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
}

/** A fresh context (its own storage: no session carried over) with one watched page. */
export async function watchedPage(browser: Browser, options: BrowserContextOptions = {}): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, ...options });
  const problems = new PageProblems();
  await context.exposeFunction('__reportCspViolation', (v: Violation) =>
    problems.add(`CSP violation: ${v.directive} blocked ${v.blocked || '(inline)'} at ${v.source} ${v.sample}`),
  );
  await context.addInitScript(listenForViolations);
  context.on('page', (page) => watch(page, problems));
  const page = await context.newPage();
  return { context, page, problems };
}

/**
 * Retries `check` (an assertion) until it passes or `timeoutMs` runs out, then throws its last error: for what
 * the page shows after a debounce, a request or a re-render.
 */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
