/**
 * Recent answers of a substring index's rarity probe (Dialect.substringIndexServes), per index and term: the
 * probe costs a few milliseconds for a common term (reading up to its RARE matches), as much as the search it
 * decides, and searches repeat their terms. A stale answer costs speed only, never a row: either way every
 * candidate is checked by the LIKE.
 */
const decisions = new Map<string, { serves: boolean; until: number }>();
const DECISIONS = 4096;
const DECISION_MS = 60_000;

/** Probes under way: concurrent searches for one new term share one probe. */
const probing = new Map<string, Promise<boolean>>();

/** The remembered answer for `index` and `term`, or what `probe` answers now (then remembered for a minute). */
export function rememberedDecision(index: string, term: string, probe: () => Promise<boolean>): Promise<boolean> {
  const key = `${index}\0${term}`;
  const known = decisions.get(key);
  if (known && known.until > Date.now()) return Promise.resolve(known.serves);
  const running = probing.get(key);
  if (running) return running;
  const answer = probe().then((serves) => {
    if (decisions.size >= DECISIONS) decisions.delete(decisions.keys().next().value as string);
    decisions.set(key, { serves, until: Date.now() + DECISION_MS });
    return serves;
  });
  probing.set(key, answer);
  // Settled either way (a failed probe is not remembered: the next search asks again).
  const done = () => probing.delete(key);
  answer.then(done, done);
  return answer;
}
