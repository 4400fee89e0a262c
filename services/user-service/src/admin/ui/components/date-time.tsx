/**
 * Timestamps as the reader expects them: the browser's own locale and time zone (Intl.DateTimeFormat with no
 * locale argument), with the exact ISO value the API sent kept in a title and in <time datetime>, so nothing
 * is lost to rounding and a screen reader or a copy still has the precise instant.
 */

// One formatter for the page's lifetime: constructing Intl formatters is slow enough to notice in a long table.
const formatter = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** The ISO timestamp in the browser's locale; '' for none, the input itself when it is not a date. */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : formatter.format(date);
}

/** A <time> showing the local form, the ISO value in its title and datetime; `fallback` when there is none. */
export function DateTime({ iso, fallback = '—' }: { iso: string | null | undefined; fallback?: string }) {
  if (!iso) return <span class="muted">{fallback}</span>;
  return (
    <time dateTime={iso} title={iso}>
      {formatDateTime(iso)}
    </time>
  );
}
