/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, a .cpuprofile file): the top functions by self time and by
 * inclusive time, and the time per package (npm package, data layer, service folder, Node internals, GC), each as
 * a share of the busy (non-idle) samples. Bundled code (dist/ chunks) is mapped back to its sources through the
 * bundle's linked source maps, so the data layer and the service's folders show up by name.
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile>... [--top 25] [--last <s>] [--json]
 *
 * --last: only the profile's last <s> seconds (a profile of a whole server run starts with its start-up: module
 * loading, schema compilation; a load of known length at the end is what the request path costs).
 *
 * Inclusive time counts a sample once per function (or package) however often it recurs in that sample's stack.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Row {
  name: string;
  /** Where: package or source file (mapped through a source map when there is one). */
  where: string;
  selfMs: number;
  totalMs: number;
}

export interface Summary {
  busyMs: number;
  idleMs: number;
  functions: Row[];
  packages: Row[];
}

/** Samples that are no work of the process: waiting in the event loop. */
const IDLE = new Set(['(idle)']);

const sourceMaps = new Map<string, SourceMap | null>();

function sourceMapFor(url: string): SourceMap | null {
  let map = sourceMaps.get(url);
  if (map !== undefined) return map;
  map = null;
  try {
    const path = url.startsWith('file://') ? fileURLToPath(url) : url;
    const mapPath = `${path}.map`;
    if (path.endsWith('.js') && existsSync(mapPath)) {
      const payload = JSON.parse(readFileSync(mapPath, 'utf8'));
      // Sources are relative to the map: make them absolute so the package can be told from the path.
      payload.sources = payload.sources.map((s: string) => resolve(dirname(mapPath), s));
      map = new SourceMap(payload);
    }
  } catch {
    map = null;
  }
  sourceMaps.set(url, map);
  return map;
}

/** The original source file and line (0-based) of a frame: through the bundle's source map when there is one. */
function sourceOf(frame: CallFrame): { source: string; line: number } {
  if (!frame.url) return { source: '', line: frame.lineNumber };
  const map = sourceMapFor(frame.url);
  if (map) {
    const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as {
      originalSource?: string;
      originalLine?: number;
    };
    if (entry.originalSource) return { source: entry.originalSource, line: entry.originalLine ?? frame.lineNumber };
  }
  return { source: frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url, line: frame.lineNumber };
}

/** The package a source file belongs to: an npm package, the data layer, a service folder, or Node itself. */
export function packageOf(source: string, functionName: string): string {
  if (!source) return functionName.startsWith('(') ? functionName : '(native)';
  if (source.startsWith('node:')) return 'node: (internals)';
  const nm = source.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = source.slice(nm + '/node_modules/'.length).split('/');
    const name = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? '?');
    // The bench runs a copy of dist/ from node_modules/.cache: that is the service, not a package (reaching here,
    // its source map was missing: the bundle cannot be split by source folder).
    if (name !== '.cache') return name;
    return 'service (bundle, no source map)';
  }
  const data = source.match(/packages\/data\/src\/(.*)$/);
  if (data) return '@user-service/data';
  const service = source.match(/services\/user-service\/(?:src\/)?([^/]+)\//);
  if (service) return `service/${service[1]}`;
  return source;
}

function shortSource(source: string): string {
  const nm = source.lastIndexOf('/node_modules/');
  if (nm >= 0) return source.slice(nm + '/node_modules/'.length);
  const repo = source.match(/(packages\/data\/src\/.*|services\/user-service\/.*)$/);
  return repo?.[1] ?? source;
}

export function summarise(profile: CpuProfile, lastMs = Number.POSITIVE_INFINITY): Summary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  // Per node: its function key and package, computed once.
  const fnKey = new Map<number, string>();
  const pkgKey = new Map<number, string>();
  const functions = new Map<string, Row>();
  const packages = new Map<string, Row>();
  for (const node of profile.nodes) {
    const frame = node.callFrame;
    const { source, line } = sourceOf(frame);
    const where = `${shortSource(source)}:${line + 1}`;
    const name = frame.functionName || '(anonymous)';
    const key = `${name} ${where}`;
    fnKey.set(node.id, key);
    if (!functions.has(key)) functions.set(key, { name, where, selfMs: 0, totalMs: 0 });
    const pkg = packageOf(source, frame.functionName);
    pkgKey.set(node.id, pkg);
    if (!packages.has(pkg)) packages.set(pkg, { name: pkg, where: '', selfMs: 0, totalMs: 0 });
  }
  let busyMs = 0;
  let idleMs = 0;
  const seenFn = new Set<string>();
  const seenPkg = new Set<string>();
  // Sample times (from the profile's start), to keep only the window asked for.
  const at = new Float64Array(profile.samples.length);
  for (let i = 0, t = 0; i < at.length; i++) at[i] = t += profile.timeDeltas[i] ?? 0;
  const from = (at[at.length - 1] ?? 0) - lastMs * 1000;
  for (let i = 0; i < profile.samples.length; i++) {
    if ((at[i] as number) < from) continue;
    const id = profile.samples[i] as number;
    // timeDeltas[i] is the time since the previous sample; attribute the next delta to this sample's stack.
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const node = byId.get(id);
    if (!node) continue;
    if (IDLE.has(node.callFrame.functionName)) {
      idleMs += ms;
      continue;
    }
    busyMs += ms;
    (functions.get(fnKey.get(id) as string) as Row).selfMs += ms;
    (packages.get(pkgKey.get(id) as string) as Row).selfMs += ms;
    seenFn.clear();
    seenPkg.clear();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = fnKey.get(at) as string;
      const p = pkgKey.get(at) as string;
      if (!seenFn.has(f)) {
        seenFn.add(f);
        (functions.get(f) as Row).totalMs += ms;
      }
      if (!seenPkg.has(p)) {
        seenPkg.add(p);
        (packages.get(p) as Row).totalMs += ms;
      }
    }
  }
  const rows = (m: Map<string, Row>) => [...m.values()].filter((r) => r.totalMs > 0);
  return { busyMs, idleMs, functions: rows(functions), packages: rows(packages) };
}

function table(title: string, rows: Row[], busyMs: number, top: number, by: 'selfMs' | 'totalMs'): string {
  const pct = (ms: number) => `${((100 * ms) / Math.max(busyMs, 1e-9)).toFixed(1).padStart(5)}%`;
  const lines = [`${title}  (self%  incl%)`];
  for (const r of [...rows].sort((a, b) => b[by] - a[by]).slice(0, top)) {
    lines.push(`  ${pct(r.selfMs)} ${pct(r.totalMs)}  ${r.name}${r.where ? `  ${r.where}` : ''}`);
  }
  return lines.join('\n');
}

export function formatSummary(s: Summary, top: number): string {
  const skip = new Set(['(root)', '(program)']);
  return [
    `busy ${s.busyMs.toFixed(0)} ms, idle ${s.idleMs.toFixed(0)} ms (shares below are of busy time)`,
    table('packages by self time', s.packages, s.busyMs, top, 'selfMs'),
    table(
      'packages by inclusive time',
      s.packages.filter((r) => !skip.has(r.name)),
      s.busyMs,
      top,
      'totalMs',
    ),
    table('functions by self time', s.functions, s.busyMs, top, 'selfMs'),
    table(
      'functions by inclusive time',
      s.functions.filter((r) => !skip.has(r.name)),
      s.busyMs,
      top,
      'totalMs',
    ),
  ].join('\n\n');
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('profile-summary.ts')) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '25' },
      last: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length === 0) {
    console.error(
      'usage: node --import tsx bench/profile-summary.ts <file.cpuprofile>... [--top N] [--last S] [--json]',
    );
    process.exit(2);
  }
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const summary = summarise(profile, values.last === undefined ? undefined : Number(values.last) * 1000);
    if (values.json) console.log(JSON.stringify({ file, ...summary }));
    else console.log(`== ${file}\n${formatSummary(summary, Number(values.top))}\n`);
  }
}
