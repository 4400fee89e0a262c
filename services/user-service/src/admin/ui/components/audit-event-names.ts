/** The audit log's event names for the "Event" filter: the server's own list (no imports of its own). */
export { AUDIT_EVENTS as AUDIT_EVENT_NAMES } from '../../../audit/audit-event-names';
