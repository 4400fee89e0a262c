/** The audit log (owned by the keys/audit work): placeholder until it lands. */
export function AuditPage() {
  return <h1>Audit log</h1>;
}
