/** API keys (owned by the keys/audit work): placeholder until it lands. */
export function ApiKeysPage() {
  return <h1>API keys</h1>;
}
