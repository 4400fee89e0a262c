import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiKeyCreated } from './api-key-types';

/**
 * The new key's secret, shown this once: the API keeps only its hash and never sends it again. Read-only and
 * copyable; "Done" drops it from the page (and from memory, as far as the page holds it).
 */
export function ApiKeySecret({ created, onDone }: { created: ApiKeyCreated; onDone: () => void }) {
  const [copied, setCopied] = useState<string | undefined>();
  const heading = useRef<HTMLHeadingElement>(null);
  const input = useRef<HTMLInputElement>(null);

  // The reader's next task is here: take the focus to it (the form they used has been emptied).
  useEffect(() => heading.current?.focus(), [created.id]);

  const byHand = () => {
    input.current?.select();
    setCopied('Copying is not allowed here: the secret is selected; copy it with Ctrl+C (⌘C on a Mac).');
  };

  const copy = () => {
    // navigator.clipboard exists only in a secure context (https or localhost) and may be refused.
    if (!navigator.clipboard) return byHand();
    navigator.clipboard.writeText(created.secret).then(() => setCopied('Copied to the clipboard.'), byHand);
  };

  return (
    <section class="secret-panel" aria-labelledby="secret-title">
      <h2 id="secret-title" ref={heading} tabIndex={-1}>
        Key “{created.name}” created
      </h2>
      <p class="secret-warning">
        This secret is shown once: copy it now and store it where the service that uses it keeps its secrets. It cannot
        be shown again; if it is lost, revoke the key and create a new one.
      </p>
      <label for="api-key-secret">Secret</label>
      <div class="secret-row">
        <input
          id="api-key-secret"
          ref={input}
          class="mono"
          readOnly
          value={created.secret}
          autocomplete="off"
          spellcheck={false}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" onClick={copy}>
          Copy
        </button>
      </div>
      <p role="status" class="muted">
        {copied ?? ''}
      </p>
      <button type="button" onClick={onDone}>
        Done
      </button>
    </section>
  );
}
